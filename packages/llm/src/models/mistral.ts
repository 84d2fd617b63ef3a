/**
 * Mistral: the Llama with sliding-window attention — every layer attends to the last `sliding_window` positions
 * only (the KV cache keeps every position; attention reads just the window).
 */
import { ConfigFields } from "./config-fields.js";
import { parseLlamaFamily, type LlamaConfig } from "./config.js";
import { DecoderModel, loadDecoder } from "./decoder.js";
import { llamaRecipe } from "./llama/model.js";
import type { ModelArchitecture } from "./registry.js";

/** A Mistral config: the Llama's, plus the window (0: none). */
export interface MistralConfig extends LlamaConfig {
  readonly slidingWindow: number;
}

/** Normalize and validate a Mistral config.json (transformers' MistralConfig defaults); `source` names the file. */
export function parseMistralConfig(raw: unknown, source = "config.json"): MistralConfig {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ mistral: "MistralForCausalLM" });
  f.oneOf("hidden_act", ["silu"], "silu");
  return {
    modelType,
    ...parseLlamaFamily(f, { rmsNormEps: 1e-6, maxPositionEmbeddings: 4096 * 32 }),
    slidingWindow: f.window("sliding_window", 4096),
  };
}

const MISTRAL = llamaRecipe<MistralConfig>((c) => ({ window: () => c.slidingWindow }));

/** Mistral, registered for model_type `mistral`. */
export const mistralArchitecture: ModelArchitecture<MistralConfig, DecoderModel<MistralConfig>> = {
  name: "mistral",
  modelTypes: ["mistral"],
  parseConfig: parseMistralConfig,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, MISTRAL)),
};
