// A piscina task (runs on a CpuPool thread): tokenize one text with the tokenizer of a model directory.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { isGgufModel } from "../gguf/model-file.js";
import { Tokenizer } from "../tokenizer.js";

/** One text to tokenize with the tokenizer files in `dir`. */
export interface EncodeTask {
  dir: string;
  text: string;
}

/** Per thread, one tokenizer per model directory, with the tokenizer.json mtime it was loaded at. */
const tokenizers = new Map<string, { mtimeMs: number; tokenizer: Promise<Tokenizer> }>();

/** Token ids of `task.text` (bos prepended), as the model's own tokenizer would give them. */
export default async function encode(task: EncodeTask): Promise<Int32Array> {
  return Int32Array.from((await tokenizerOf(task.dir)).encode(task.text));
}

/** The cached tokenizer of `dir` while its tokenizer.json is unchanged; a failed load is not kept. */
async function tokenizerOf(dir: string): Promise<Tokenizer> {
  // a missing file reads as mtime NaN (never equal): fromDir then rejects naming it
  const mtimeMs = await stat(isGgufModel(dir) ? dir : join(dir, "tokenizer.json")).then((s) => s.mtimeMs, () => NaN);
  const cached = tokenizers.get(dir);
  if (cached && cached.mtimeMs === mtimeMs) return cached.tokenizer;
  const entry = { mtimeMs, tokenizer: Tokenizer.fromDir(dir) };
  tokenizers.set(dir, entry);
  entry.tokenizer.catch(() => {
    if (tokenizers.get(dir) === entry) tokenizers.delete(dir);
  });
  return entry.tokenizer;
}
