/**
 * Qwen3: the Llama with an RMSNorm over each head's queries and keys before RoPE, a head width of its own
 * (`head_dim`, independent of hidden_size / heads), and optional biases on all four attention projections.
 */
import { ConfigFields } from "./config-fields.js";
import { DecoderModel, loadDecoder } from "./decoder.js";
import { llamaRecipe } from "./llama/model.js";
import { parseQwenFamily, type Qwen2Config } from "./qwen2.js";
import type { ModelArchitecture } from "./registry.js";

/** A Qwen3 config: Qwen2's, plus whether the attention projections have biases. */
export interface Qwen3Config extends Qwen2Config {
  readonly attentionBias: boolean;
}

/** Normalize and validate a Qwen3 config.json (transformers' Qwen3Config defaults); `source` names the file. */
export function parseQwen3Config(raw: unknown, source = "config.json"): Qwen3Config {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ qwen3: "Qwen3ForCausalLM" });
  return { modelType, ...parseQwenFamily(f, { headDim: 128 }), attentionBias: f.bool("attention_bias", false) };
}

const QWEN3 = llamaRecipe<Qwen3Config>((c) => ({ attentionBias: c.attentionBias ? "all" : "none", qkNorm: true, window: (i) => c.windows[i] }));

/** Qwen3 (dense), registered for model_type `qwen3`. */
export const qwen3Architecture: ModelArchitecture<Qwen3Config, DecoderModel<Qwen3Config>> = {
  name: "qwen3",
  modelTypes: ["qwen3"],
  parseConfig: parseQwen3Config,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, QWEN3)),
};
