/**
 * GGUF files named by Hugging Face id, as llama.cpp (`-hf`) and Ollama (`hf.co/…`) name them: `org/name:TAG`
 * (`@revision` before the colon when not main), where TAG is a quantization label (`Q4_0`, `q4_k_m`, matched
 * case-insensitively against the repository's `.gguf` file names as a whole word) or a `.gguf` file name. Resolved
 * from the local Hugging Face cache only.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { LlmError } from "../errors.js";
import { repoFolder } from "./cache.js";
import { formatModelId, isCommitHash, parseModelId, type ModelId } from "./model-id.js";

/** A GGUF file named by id: the repository and revision, and the tag or file name after the colon. */
export interface GgufModelId {
  readonly id: ModelId;
  readonly tag: string;
}

const TAG = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The GGUF id in `text` (`org/name[@revision]:TAG`), or null when it is not shaped like one. */
export function parseGgufModelId(text: string): GgufModelId | null {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return null;
  const id = parseModelId(text.slice(0, colon));
  const tag = text.slice(colon + 1);
  if (id === null || !TAG.test(tag) || tag.includes("..")) return null;
  return { id, tag };
}

/**
 * The cached GGUF file `gguf` names; MODEL_LOAD (field `model`) when the revision is not cached, when no file
 * matches, or when several do (naming them).
 */
export function resolveGgufModel(text: string, gguf: GgufModelId, cacheDir: string): string {
  const folder = repoFolder(cacheDir, gguf.id.repo);
  let commit = gguf.id.revision;
  if (!isCommitHash(commit)) {
    const ref = join(folder, "refs", commit);
    commit = existsSync(ref) ? readFileSync(ref, "utf8").trim() : "";
  }
  const snapshot = join(folder, "snapshots", commit);
  const name = formatModelId(gguf.id);
  if (commit === "" || !existsSync(snapshot)) {
    throw new LlmError("MODEL_LOAD",
      `model "${text}": the Hugging Face repository ${name} is not in the local cache (${cacheDir}); GGUF files are not ` +
      `downloaded by actorlm: fetch the file with \`huggingface-cli download ${gguf.id.repo} <file>.gguf\``, { field: "model" });
  }
  const files = readdirSync(snapshot).filter((f) => f.toLowerCase().endsWith(".gguf"));
  const tag = gguf.tag.toLowerCase();
  const word = new RegExp(`(^|[^a-z0-9])${tag.replace(/[.]/g, "\\.")}([^a-z0-9_]|$)`);
  const matches = tag.endsWith(".gguf") ? files.filter((f) => f.toLowerCase() === tag) : files.filter((f) => word.test(f.toLowerCase()));
  if (matches.length === 1) return join(snapshot, matches[0]);
  const listed = files.length === 0 ? "none" : files.join(", ");
  throw new LlmError("MODEL_LOAD",
    `model "${text}": ${matches.length === 0 ? "no" : "more than one"} cached .gguf file of ${name} matches "${gguf.tag}" (cached: ${listed})`, { field: "model" });
}
