// The grammar thread (one per model, started by the model worker): it holds xgrammar with the model's vocabulary,
// compiles grammars (cached by EBNF text) and runs each constrained request's matcher. When the model worker says a
// request sampled a token, the next mask is computed here and written to that request's shared slot, while the model
// worker runs the next forward pass; so neither compiling nor masking runs on the model's thread.
import { parentPort } from "node:worker_threads";
import type * as Xg from "@mlc-ai/web-xgrammar";
import { grammarToEbnf } from "./convert.js";
import type { GrammarSpec } from "./spec.js";
import { xgCall, xgrammar, XGrammarFailure } from "./xgrammar.js";
import {
  SLOT_MASK, SLOT_MASK_US, SLOT_STATUS, SLOT_VERSION, STATUS_FAILED, STATUS_OK,
  type FromGrammarThread, type InitMessage, type StartMessage, type ToGrammarThread,
} from "./protocol.js";
import { LlmError } from "../errors.js";

if (parentPort === null) throw new Error("grammar-thread.js must run inside a worker thread");
const port = parentPort;

/** Compiled grammars kept (least recently used disposed first). */
const COMPILED_ENTRIES = 64;

interface Running {
  matcher: Xg.GrammarMatcher;
  slot: Int32Array;
}

let xg: ReturnType<typeof xgrammar> | undefined; // the instance the compiler and matchers belong to
let compiler: Xg.GrammarCompiler | undefined;
let stopIds: number[] = [];
const compiled = new Map<string, Xg.CompiledGrammar>();
const running = new Map<number, Running>();
/** Messages are handled one at a time, in order (xgrammar's API is async). */
let chain: Promise<void> = Promise.resolve();

port.on("message", (message: ToGrammarThread) => {
  chain = chain.then(() => handle(message)).catch(() => undefined);
});

function post(message: FromGrammarThread): void {
  port.postMessage(message);
}

async function handle(message: ToGrammarThread): Promise<void> {
  switch (message.type) {
    case "init":
      return init(message);
    case "start":
      return start(message);
    case "accept": {
      const r = running.get(message.id);
      if (r === undefined) return;
      if (!r.matcher.acceptToken(message.token)) return fail(r.slot, message.id, new LlmError("VALIDATION", `grammar: the grammar refused token ${message.token}, which its mask allowed`, { field: "grammar" }), false);
      if (r.matcher.isTerminated()) return;
      return fill(r);
    }
    case "dispose": {
      running.get(message.id)?.matcher.dispose();
      running.delete(message.id);
      return;
    }
  }
}

async function init(message: InitMessage): Promise<void> {
  xg = xgrammar();
  stopIds = message.stopIds;
  const info = await xg.TokenizerInfo.createTokenizerInfo(message.vocab, message.vocabType, message.prependSpace, message.logitsSize, message.stopIds);
  compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
}

async function start(message: StartMessage): Promise<void> {
  const slot = new Int32Array(message.slot);
  try {
    const ebnf = message.ebnf ?? (await grammarToEbnf(JSON.parse(message.spec!) as GrammarSpec));
    let grammar = compiled.get(ebnf);
    let compileMs: number | undefined;
    if (grammar === undefined) {
      const t0 = performance.now();
      grammar = await xgCall(() => compiler!.compileGrammar(ebnf, "root"));
      compileMs = performance.now() - t0;
      compiled.set(ebnf, grammar);
      if (compiled.size > COMPILED_ENTRIES) {
        const [oldest, evicted] = compiled.entries().next().value as [string, Xg.CompiledGrammar];
        compiled.delete(oldest);
        evicted.dispose(); // matchers made from it keep their own reference
      }
    } else {
      compiled.delete(ebnf); // most recently used last
      compiled.set(ebnf, grammar);
    }
    const matcher = await xg!.GrammarMatcher.createGrammarMatcher(grammar, stopIds.length > 0 ? stopIds : undefined);
    const r: Running = { matcher, slot };
    running.set(message.id, r);
    await fill(r);
    post({ type: "ready", id: message.id, compileMs });
  } catch (error) {
    fail(slot, message.id, error, true);
  }
}

/** Compute the next mask into the slot, then publish it (version bumped last, waiters woken). */
async function fill(r: Running): Promise<void> {
  const t0 = performance.now();
  const mask = await r.matcher.getNextTokenBitmask();
  r.slot.set(mask.subarray(0, r.slot.length - SLOT_MASK), SLOT_MASK);
  Atomics.store(r.slot, SLOT_MASK_US, Math.round((performance.now() - t0) * 1000));
  Atomics.store(r.slot, SLOT_STATUS, STATUS_OK);
  Atomics.add(r.slot, SLOT_VERSION, 1);
  Atomics.notify(r.slot, SLOT_VERSION);
}

/** Mark the slot failed (waking a waiter) and, for a grammar that never started, say so to the model worker. */
function fail(slot: Int32Array, id: number, error: unknown, starting: boolean): void {
  Atomics.store(slot, SLOT_STATUS, STATUS_FAILED);
  Atomics.add(slot, SLOT_VERSION, 1);
  Atomics.notify(slot, SLOT_VERSION);
  const message = error instanceof XGrammarFailure ? `grammar: ${error.message}` : error instanceof Error ? error.message : String(error);
  const field = error instanceof LlmError ? error.field : "grammar";
  post({ type: "ready", id, error: { message, field } });
  if (!starting) {
    running.get(id)?.matcher.dispose();
    running.delete(id);
  }
}
