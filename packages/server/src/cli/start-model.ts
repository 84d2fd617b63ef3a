// Load a model for a CLI command: a started model host, with a progress bar while it loads.
import { ModelHost } from "@actorlm/runtime";
import { LlamaModel } from "@actorlm/llm";
import type { EngineOptions } from "../models.js";
import { showLoadProgress } from "./progress.js";

/** Start a model worker for the model in `dir` with the engine settings given; `progress` shows a load bar on stderr (when it is a terminal). */
export async function startModel(dir: string, engine: EngineOptions, progress: boolean): Promise<ModelHost<LlamaModel>> {
  const host = ModelHost.create(LlamaModel, { model: dir, ...engine });
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
