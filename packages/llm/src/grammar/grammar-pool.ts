// Converting grammars off the model worker: a JSON Schema or a regex becomes EBNF text on a CPU pool thread (see
// grammar-task.ts), cached by the spec's JSON text, so a schema sent again costs a map lookup.
import { CpuPool } from "@actorlm/runtime";
import type { StructuralFormat } from "./convert.js";
import type { GrammarTask } from "./grammar-task.js";
import type { GrammarSpec } from "./spec.js";

/** Converted grammars kept (least recently used dropped first). */
const CACHE_ENTRIES = 256;

let pool: CpuPool<GrammarTask, string> | undefined;
const cache = new Map<string, Promise<string>>();

/**
 * The EBNF text of `spec` (checked), converted (EBNF: parsed and printed again) on a pool thread and cached;
 * VALIDATION naming `field` when xgrammar refuses it, so a grammar that would make the wasm abort never reaches the
 * model worker.
 */
export function grammarOffThread(spec: GrammarSpec, field = "grammar", signal?: AbortSignal): Promise<string> {
  return cached(`${field}\u0000${JSON.stringify(spec)}`, { spec, field }, signal);
}

/** The EBNF text of a structural tag (tool calls), converted on a pool thread and cached. */
export function structuralOffThread(format: StructuralFormat, field: string, signal?: AbortSignal): Promise<string> {
  return cached(`${field}\u0000${JSON.stringify(format)}`, { structural: format, field }, signal);
}

function cached(key: string, task: GrammarTask, signal?: AbortSignal): Promise<string> {
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key); // re-inserted: most recently used last
    cache.set(key, hit);
    return hit;
  }
  // One thread: conversions are short, and the tokenizer pool keeps the other cores. Created on first use; its idle
  // thread is unref'ed by piscina, so it never keeps the process alive.
  pool ??= new CpuPool<GrammarTask, string>({ filename: new URL("./grammar-task.js", import.meta.url), maxThreads: 1 });
  const result = pool.run(task, { signal });
  cache.set(key, result);
  result.catch(() => cache.delete(key)); // a refusal or a cancellation is not kept
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return result;
}
