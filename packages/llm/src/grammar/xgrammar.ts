// Loading xgrammar (@mlc-ai/web-xgrammar, WebAssembly): its `lib/index.js` is a CommonJS (UMD) bundle under a
// `"type": "module"` package.json, so neither `import` nor `require` can load it as published. It is evaluated here
// as CommonJS, in the wrapper Node itself gives a CommonJS file (exports, require, module, __filename, __dirname),
// with one more parameter: a `console` of our own. The wasm reports a failed grammar (an unknown type, an EBNF
// syntax error) by printing `[FATAL] file:line: message` and aborting the call with a bare "Aborted()", so what it
// prints is captured and becomes the error's message. One instance per thread, loaded on first use.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type * as Xg from "@mlc-ai/web-xgrammar";

/** The xgrammar module's classes. */
export type XGrammar = typeof Xg;

/** What the bundle printed while the current call ran (its `console`), and whether a call is being captured. */
let printed: string[] = [];

const captured = {
  log: (...args: unknown[]) => void printed.push(args.map(String).join(" ")),
  error: (...args: unknown[]) => void printed.push(args.map(String).join(" ")),
  warn: (...args: unknown[]) => void printed.push(args.map(String).join(" ")),
  info: () => undefined,
  debug: () => undefined,
};

let loaded: XGrammar | undefined;

/** The xgrammar module of this thread, evaluated from the installed package on first use. */
export function xgrammar(): XGrammar {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const file = require.resolve("@mlc-ai/web-xgrammar");
  const source = readFileSync(file, "utf8");
  const module = { exports: {} as Record<string, unknown> };
  // the CommonJS wrapper, as Node's own loader builds it, plus `console`
  const wrapper = new Function("exports", "require", "module", "__filename", "__dirname", "console", source) as (...args: unknown[]) => void;
  wrapper(module.exports, createRequire(file), module, file, dirname(file), captured);
  loaded = module.exports as unknown as XGrammar;
  return loaded;
}

/** Drop this thread's instance: the next {@link xgrammar} evaluates a fresh one (after a call aborted the wasm). */
export function resetXGrammar(): void {
  loaded = undefined;
}

/** Why an xgrammar call failed: the `[FATAL]` lines it printed (file and line stripped), or its error's message. */
export class XGrammarFailure extends Error {
  override readonly name = "XGrammarFailure";
}

/**
 * Runs an xgrammar call and returns its result; a failure becomes an {@link XGrammarFailure} whose message is what
 * the wasm printed (`Unsupported type "intger"`), not the bare "Aborted()".
 */
export async function xgCall<T>(fn: () => Promise<T> | T): Promise<T> {
  printed = [];
  try {
    return await fn();
  } catch (error) {
    const fatal = printed.filter((line) => line.includes("[FATAL]")).map((line) => line.replace(/^\[FATAL\]\s*\S+:\d+:\s*/, ""));
    const message = fatal.length > 0 ? fatal.join("; ") : error instanceof Error ? error.message : String(error);
    throw new XGrammarFailure(message, { cause: error });
  } finally {
    printed = [];
  }
}
