/** Loading a Llama the way LlamaModel does (through the registry, config.json read once), on the plain-JS backend. */
import { jsBackend, type ProgressCallback } from "@actorlm/tensor";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";

/** The Llama in `dir`, loaded on the reference backend. */
export async function loadLlama(dir: string, options: { onProgress?: ProgressCallback } = {}): Promise<Llama> {
  const { model } = await loadModel(dir, { backend: jsBackend, ...options });
  return model as Llama;
}
