// Tokenizing long texts off the model actor: the actor runs one operation at a time, so tokenizing a
// book inside it would stall every other request's decode steps. A shared piscina pool does it instead.
import { availableParallelism } from "node:os";
import { CpuPool } from "@actorlm/runtime";
import type { NormalizedRequest, TokenizedRequest } from "../generation/request.js";
import type { EncodeTask } from "./encode-task.js";

let pool: CpuPool<EncodeTask, Int32Array> | undefined;

/** Token ids of each text under the tokenizer in `dir`, computed on pool threads (in parallel for several texts). */
export async function encodeOffThread(dir: string, texts: readonly string[], signal?: AbortSignal): Promise<Int32Array[]> {
  // Created on first use and kept for the process's life. Threads beyond the one CpuPool always keeps (its
  // minThreads) are reaped after its idle timeout; piscina unrefs idle threads, so none keeps the process alive.
  pool ??= new CpuPool<EncodeTask, Int32Array>({
    filename: new URL("./encode-task.js", import.meta.url),
    maxThreads: Math.max(1, Math.min(4, availableParallelism() - 1)),
  });
  const shared = pool;
  return Promise.all(texts.map((text) => shared.run({ dir, text }, { signal })));
}

/**
 * `request` with its prompt tokenized: a text once, on a pool thread, with the tokenizer in `dir` (bos included);
 * token ids given as the prompt as they are. The one tokenization a request gets: its ids travel with it to the engine.
 */
export async function tokenizeRequest(request: NormalizedRequest, dir: string, signal?: AbortSignal): Promise<TokenizedRequest> {
  const { prompt, ...rest } = request;
  const promptIds = typeof prompt === "string" ? Array.from((await encodeOffThread(dir, [prompt], signal))[0]) : [...prompt];
  return { ...rest, promptIds };
}
