// A piscina task (runs on a CpuPool thread): tokenize one text with the tokenizer of a model directory.
import { Tokenizer } from "../tokenizer.js";

/** One text to tokenize with the tokenizer files in `dir`. */
export interface EncodeTask {
  dir: string;
  text: string;
}

const tokenizers = new Map<string, Promise<Tokenizer>>(); // per thread, one per model directory

/** Token ids of `task.text` (bos prepended), as the model's own tokenizer would give them. */
export default async function encode(task: EncodeTask): Promise<Int32Array> {
  let tokenizer = tokenizers.get(task.dir);
  if (!tokenizer) {
    tokenizer = Tokenizer.fromDir(task.dir);
    tokenizers.set(task.dir, tokenizer);
  }
  return Int32Array.from((await tokenizer).encode(task.text));
}
