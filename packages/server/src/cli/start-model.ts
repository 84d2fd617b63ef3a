// Load a model for a CLI command: a started model host, with a progress bar while it loads.
import { ModelHost } from "@actorlm/runtime";
import { LlamaModel, type LlamaModelArgs } from "@actorlm/llm";
import { showLoadProgress } from "./progress.js";

/** Start a model worker for `args`; `progress` shows a load bar on stderr (when it is a terminal). */
export async function startModel(args: LlamaModelArgs, progress: boolean): Promise<ModelHost<LlamaModel>> {
  const host = ModelHost.create(LlamaModel, args);
  const bar = progress ? showLoadProgress(host) : undefined;
  try {
    await host.start();
  } catch (error) {
    await host.close();
    throw error;
  } finally {
    bar?.stop();
  }
  return host;
}
