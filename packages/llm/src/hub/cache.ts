/**
 * The local Hugging Face cache, in the layout `huggingface_hub` and transformers write and read:
 *
 *     <cache>/models--org--name/refs/<revision>            the commit a branch or tag points at
 *     <cache>/models--org--name/snapshots/<commit>/<file>  each file (a link into blobs/)
 *     <cache>/models--org--name/blobs/<etag>               the content
 *
 * where <cache> is HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. Nothing here touches the network.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LlmError } from "../errors.js";
import { parseGgufModelId, resolveGgufModel } from "./gguf-id.js";
import { formatModelId, isCommitHash, parseModelId, type ModelId } from "./model-id.js";

/** Where the cache is, from the environment (as huggingface_hub reads it). */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, "hub");
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface", "hub");
}

/** The cache folder of a repository: `models--org--name`. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split("/").join("--")}`);
}

/** The snapshot folder of `id` in the cache, or null when the revision (or its snapshot) is not there. */
export function cachedSnapshot(id: ModelId, cacheDir = hubCacheDir()): string | null {
  const folder = repoFolder(cacheDir, id.repo);
  let commit = id.revision;
  if (!isCommitHash(commit)) {
    const ref = join(folder, "refs", id.revision);
    if (!existsSync(ref)) return null;
    commit = readFileSync(ref, "utf8").trim();
  }
  const snapshot = join(folder, "snapshots", commit);
  return existsSync(join(snapshot, "config.json")) ? snapshot : null;
}

/**
 * The directory a model named by `model` lives in: `model` itself when it is a directory; the cached snapshot when it
 * is a Hugging Face id (`org/name[@revision]`), the cached .gguf file when it is a GGUF id (`org/name:Q4_0`, see
 * gguf-id.ts). A cached id missing from the cache is refused (MODEL_LOAD, field
 * `model`) with how to fetch it; anything else is returned as given, so loading names the file it cannot find.
 */
export function resolveModelDir(model: string, cacheDir = hubCacheDir()): string {
  if (isDirectory(model)) return model;
  const gguf = existsSync(model) ? null : parseGgufModelId(model);    // org/name:Q4_0, a GGUF file in the cache
  if (gguf !== null) return resolveGgufModel(model, gguf, cacheDir);
  const id = parseModelId(model);
  if (id === null) return model;
  const snapshot = cachedSnapshot(id, cacheDir);
  if (snapshot !== null) return snapshot;
  const name = formatModelId(id);
  throw new LlmError("MODEL_LOAD",
    `model "${model}" is not a directory, and the Hugging Face model ${name} is not in the local cache (${cacheDir}): ` +
    `fetch it with \`actorlm download ${name}\` (or --download), or with huggingface-cli`, { field: "model" });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
