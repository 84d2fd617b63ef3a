// `actorlm download ID`, and the --download flag of the commands that load a model: fetch a Hugging Face model into
// the local cache (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub) from the Hub or HF_ENDPOINT, with a
// progress bar on stderr when it is a terminal. Nothing is fetched unless one of them asks.
import { existsSync, statSync } from "node:fs";
import { cachedSnapshot, downloadModel, formatModelId, parseGgufModelId, parseModelId, resolveModelDir, type DownloadResult } from "@actorlm/llm";
import { Command } from "commander";
import { terminalBar } from "./progress.js";

/** The `download` command. */
export function downloadCommand(): Command {
  return new Command("download")
    .description("fetch a Hugging Face model (org/name[@revision]), or one GGUF file of a repository (org/name:file.gguf), into the local cache, resuming a partial download")
    .argument("<id>", "model id, e.g. Qwen/Qwen3-0.6B, org/name@revision or org/name:file.gguf")
    .action(async (id: string) => {
      const result = await fetchModel(id);
      process.stdout.write(`${result.dir}\n`);
    });
}

/** Fetches `id` (files already cached are kept), showing progress on stderr; a summary line when it is not a terminal. */
export async function fetchModel(id: string): Promise<DownloadResult> {
  const tty = process.stderr.isTTY === true;
  const bar = tty ? terminalBar(`downloading ${id} [{bar}] {percentage}% {value}/{total} MB {file}`, process.stderr) : undefined;
  let started = false;
  try {
    const result = await downloadModel(id, {
      onProgress: ({ file, done, total }) => {
        if (!started) bar?.start(mb(total), 0, { file });
        started = true;
        bar?.update(mb(done), { file });
      },
    });
    bar?.stop();
    if (!tty) {
      process.stderr.write(`${id}: ${result.files.length} files, ${mb(result.bytesDownloaded)} MB fetched into ${result.dir}\n`);
    }
    return result;
  } catch (error) {
    bar?.stop();
    throw error;
  }
}

/**
 * For --download: fetches `model` when it is a Hugging Face id missing from the cache (a directory, or an id already
 * cached, is left alone, so a later run works offline).
 */
export async function fetchIfMissing(model: string): Promise<void> {
  if (parseGgufModelId(model) !== null && !existsSync(model)) {             // a GGUF file by id: fetched unless cached
    if (!isCachedGguf(model)) await fetchModel(model);
    return;
  }
  const id = parseModelId(model);
  if (id === null || isDirectory(model) || cachedSnapshot(id) !== null) return;
  await fetchModel(formatModelId(id));
}

/** Whether the GGUF id `model` names a file already in the cache. */
function isCachedGguf(model: string): boolean {
  try {
    resolveModelDir(model);
    return true;
  } catch {
    return false;
  }
}

function mb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
