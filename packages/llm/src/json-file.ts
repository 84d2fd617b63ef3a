// Reading the JSON files of a model directory (config.json, tokenizer files): every failure is MODEL_LOAD naming the file.
import { readFile } from "node:fs/promises";
import { LlmError } from "./errors.js";

/** Whether `v` is a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Options for {@link readJsonFile}. */
export interface ReadJsonOptions {
  /** A missing file gives undefined instead of an error (other failures still throw). Default false. */
  readonly optional?: boolean;
}

/** Read and parse `path`; rejects with MODEL_LOAD naming the file when it cannot be read or is not JSON. */
export async function readJsonFile(path: string, { optional = false }: ReadJsonOptions = {}): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && optional) return undefined;
    const why = code === "ENOENT" ? "file not found" : `cannot read (${code ?? String(cause)})`;
    throw new LlmError("MODEL_LOAD", `${path}: ${why}`, { file: path }, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new LlmError("MODEL_LOAD", `${path}: invalid JSON (${(cause as Error).message})`, { file: path }, { cause });
  }
}
