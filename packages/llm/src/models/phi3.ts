/**
 * Phi-3: the Llama with fused projections — one `qkv_proj` for queries, keys and values and one `gate_up_proj` for
 * the MLP's gate and up, cut into separate weights at load — and partial rotary: RoPE turns only the first
 * `partial_rotary_factor` of each head. A `sliding_window` applies to every layer.
 */
import { RmsNorm } from "./blocks/norm.js";
import { ConfigFields } from "./config-fields.js";
import { parseLlamaFamily, type LlamaConfig } from "./config.js";
import { DecoderModel, loadDecoder, type DecoderRecipe } from "./decoder.js";
import { llamaRecipe, type LlamaLayerSpecs } from "./llama/model.js";
import type { ModelArchitecture } from "./registry.js";

/** A Phi-3 config: the Llama's, plus the rotated dims of each head and the window (0: none). */
export interface Phi3Config extends LlamaConfig {
  readonly rotaryDim: number;
  readonly slidingWindow: number;
}

/** Normalize and validate a Phi-3 config.json (transformers' Phi3Config defaults); `source` names the file. */
export function parsePhi3Config(raw: unknown, source = "config.json"): Phi3Config {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ phi3: "Phi3ForCausalLM" });
  f.oneOf("hidden_act", ["silu"], "silu");
  const base = parseLlamaFamily(f, { rmsNormEps: 1e-5, maxPositionEmbeddings: 4096 });
  const rope = f.object("rope_parameters") ?? f.object("rope_scaling") ?? {};
  const factor: unknown = rope.partial_rotary_factor ?? f.raw.partial_rotary_factor ?? 1;
  if (typeof factor !== "number" || !(factor > 0 && factor <= 1)) return f.refuse(`partial_rotary_factor must be in (0, 1], got ${JSON.stringify(factor)}`);
  const rotaryDim = Math.floor(base.headDim * factor);
  if (rotaryDim % 2 !== 0) f.refuse(`partial_rotary_factor ${factor} rotates ${rotaryDim} dims of each head; RoPE needs an even number`);
  return { modelType, ...base, rotaryDim, slidingWindow: f.window("sliding_window", 0) };
}

/** Layer i's weights: the fused tensors cut by rows into the Llama's separate projections. */
function phi3LayerWeights(i: number, c: Phi3Config): LlamaLayerSpecs {
  const p = `model.layers.${i}`;
  const { hiddenSize: h, intermediateSize: m, numHeads, numKvHeads, headDim } = c;
  const q = numHeads * headDim, kv = numKvHeads * headDim;
  const qkv = { name: `${p}.self_attn.qkv_proj.weight`, fused: [q + 2 * kv, h] };
  const gateUp = { name: `${p}.mlp.gate_up_proj.weight`, fused: [2 * m, h] };
  return {
    inputNorm: RmsNorm.weight(`${p}.input_layernorm.weight`, h),
    wq: { name: qkv.name, shape: [q, h], from: { shape: qkv.fused, offset: 0 } },
    wk: { name: qkv.name, shape: [kv, h], from: { shape: qkv.fused, offset: q } },
    wv: { name: qkv.name, shape: [kv, h], from: { shape: qkv.fused, offset: q + kv } },
    wo: { name: `${p}.self_attn.o_proj.weight`, shape: [h, q] },
    postAttnNorm: RmsNorm.weight(`${p}.post_attention_layernorm.weight`, h),
    wGate: { name: gateUp.name, shape: [m, h], from: { shape: gateUp.fused, offset: 0 } },
    wUp: { name: gateUp.name, shape: [m, h], from: { shape: gateUp.fused, offset: m } },
    wDown: { name: `${p}.mlp.down_proj.weight`, shape: [h, m] },
  };
}

const PHI3: DecoderRecipe<Phi3Config, LlamaLayerSpecs> = {
  ...llamaRecipe<Phi3Config>((c) => ({ rotaryDim: c.rotaryDim, window: () => c.slidingWindow })),
  layerWeights: phi3LayerWeights,
};

/** Phi-3 (and Phi-3.5 / Phi-4 mini with default RoPE), registered for model_type `phi3`. */
export const phi3Architecture: ModelArchitecture<Phi3Config, DecoderModel<Phi3Config>> = {
  name: "phi3",
  modelTypes: ["phi3"],
  parseConfig: parsePhi3Config,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, PHI3)),
};
