// Load a model for a CLI command: a started model host, with a progress bar while it loads.
import { existsSync } from "node:fs";
import { InferenceError, ModelHost } from "@actorlm/runtime";
import { LlmEngine, resolveModelDir, type LlmEngineArgs } from "@actorlm/llm";
import { fetchIfMissing } from "./download.js";
import { showLoadProgress } from "./progress.js";

/**
 * Start a model worker for `args`; `progress` shows a load bar on stderr (when it is a terminal); `download` first
 * fetches a Hugging Face id that is not in the local cache. Device `auto` that fell back to the cpu says so on stderr.
 */
export async function startModel(args: LlmEngineArgs, progress: boolean, download = false): Promise<ModelHost<LlmEngine>> {
  LlmEngine.validateArgs(args);                    // a bad setting is named before a missing model
  if (download) await fetchIfMissing(args.model);
  requireModelDir(args.model);
  const host = ModelHost.create(LlmEngine, args);
  const bar = progress ? showLoadProgress(host) : undefined;
  try {
    await host.start();
  } catch (error) {
    await host.close();
    throw error;
  } finally {
    bar?.stop();
  }
  const { fallback } = await host.call("info");
  if (fallback !== null) process.stderr.write(`actorlm: ${fallback}\n`);
  return host;
}

/**
 * Refuses, before anything loads or binds, a --model that names nothing: a path with no directory or file there is a
 * usage error (VALIDATION naming --model; exit 2), so a typo never starts a replica that can never become ready; a
 * Hugging Face id not in the local cache is MODEL_LOAD naming it and `actorlm download` (exit 1), as loading says.
 */
export function requireModelDir(model: string): void {
  const dir = resolveModelDir(model);
  if (!existsSync(dir)) throw new InferenceError("VALIDATION", `model: "${model}" is not a directory nor a Hugging Face id (org/name)`, { field: "model" });
}
