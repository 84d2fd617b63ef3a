// Load a model for a CLI command: a started model host, with a progress bar while it loads.
import { ModelHost } from "@actorlm/runtime";
import { LlmEngine, type LlmEngineArgs } from "@actorlm/llm";
import { fetchIfMissing } from "./download.js";
import { showLoadProgress } from "./progress.js";

/**
 * Start a model worker for `args`; `progress` shows a load bar on stderr (when it is a terminal); `download` first
 * fetches a Hugging Face id that is not in the local cache. Device `auto` that fell back to the cpu says so on stderr.
 */
export async function startModel(args: LlmEngineArgs, progress: boolean, download = false): Promise<ModelHost<LlmEngine>> {
  if (download) await fetchIfMissing(args.model);
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
