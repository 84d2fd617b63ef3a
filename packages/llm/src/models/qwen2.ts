/**
 * Qwen2: the Llama with biases on the query, key and value projections; layers from `max_window_layers` on may use
 * sliding-window attention when the config turns it on.
 */
import { ConfigFields } from "./config-fields.js";
import { parseLlamaFamily, type LlamaConfig } from "./config.js";
import { DecoderModel, loadDecoder } from "./decoder.js";
import { llamaRecipe } from "./llama/model.js";
import type { ModelArchitecture } from "./registry.js";

/** A Qwen2 (or Qwen3) config: the Llama's, plus each layer's sliding window (0: full attention). */
export interface Qwen2Config extends LlamaConfig {
  readonly windows: readonly number[];
}

/** Normalize and validate a Qwen2 config.json (transformers' Qwen2Config defaults); `source` names the file. */
export function parseQwen2Config(raw: unknown, source = "config.json"): Qwen2Config {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ qwen2: "Qwen2ForCausalLM" });
  return { modelType, ...parseQwenFamily(f, {}) };
}

/**
 * What Qwen2 and Qwen3 configs share: the Llama-family fields, silu, and the sliding layers (those from
 * `max_window_layers` on when `use_sliding_window`, unless `layer_types` lists them).
 */
export function parseQwenFamily(f: ConfigFields, defaults: { headDim?: number }): Omit<Qwen2Config, "modelType"> {
  f.oneOf("hidden_act", ["silu"], "silu");
  const base = parseLlamaFamily(f, { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, headDim: defaults.headDim });
  const sliding = f.bool("use_sliding_window", false);
  const from = f.int("max_window_layers", 28);
  const window = sliding ? f.window("sliding_window", 4096) : 0;
  return { ...base, windows: f.layerWindows(base.numLayers, window, (i) => sliding && i >= from) };
}

const QWEN2 = llamaRecipe<Qwen2Config>((c) => ({ attentionBias: "qkv", window: (i) => c.windows[i] }));

/** Qwen2 (and Qwen2.5), registered for model_type `qwen2`. */
export const qwen2Architecture: ModelArchitecture<Qwen2Config, DecoderModel<Qwen2Config>> = {
  name: "qwen2",
  modelTypes: ["qwen2"],
  parseConfig: parseQwen2Config,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, QWEN2)),
};
