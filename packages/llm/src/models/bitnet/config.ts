/**
 * Hugging Face `config.json` of a BitNet b1.58 model (`model_type: "bitnet"`, Microsoft's bitnet-b1.58-2B-4T layout):
 * the Llama family's fields plus its `quantization_config`. Defaults are transformers' (`BitNetConfig`: hidden_act
 * relu2; `BitNetQuantConfig`: linear_class bitlinear, quantization_mode offline).
 */
import { ConfigFields } from "../config-fields.js";
import { parseLlamaFamily, type LlamaConfig } from "../config.js";

/** How the checkpoint's ternary linears are stored and scaled. */
export interface BitNetQuantization {
  /** online: float master weights, ternarized at load; offline: packed 2 bits per weight with `weight_scale`. */
  readonly mode: "online" | "offline";
  /** autobitlinear: outputs are multiplied by weight_scale (mean |W|); bitlinear: divided by it (it holds 1 / mean |W|). */
  readonly linearClass: "autobitlinear" | "bitlinear";
}

/** A BitNet b1.58 config: the Llama's fields (checked alike) and the quantization. */
export interface BitNetConfig extends LlamaConfig {
  readonly quantization: BitNetQuantization;
}

/** The model_type this parser reads, and the HF architecture class it implies. */
export const BITNET_MODEL_TYPES: Readonly<Record<string, string>> = { bitnet: "BitNetForCausalLM" };

/** Normalize and validate a parsed BitNet `config.json`; `source` names the file in error messages (MODEL_LOAD). */
export function parseBitNetConfig(raw: unknown, source = "config.json"): BitNetConfig {
  const f = ConfigFields.of(raw, source);
  const modelType = f.modelType(BITNET_MODEL_TYPES);
  f.oneOf("hidden_act", ["relu2"], "relu2");
  f.refuseTrue("attention_bias", "mlp_bias");
  const llama = parseLlamaFamily(f, { rmsNormEps: 1e-5, maxPositionEmbeddings: 2048 });
  if (llama.numHeads * llama.headDim !== llama.hiddenSize) {
    f.refuse(`num_attention_heads × head_dim (${llama.numHeads * llama.headDim}) must equal hidden_size ${llama.hiddenSize}: attn_sub_norm normalizes the attention output over hidden_size`);
  }
  return { modelType, ...llama, quantization: quantizationOf(f) };
}

/** The checked `quantization_config`. */
function quantizationOf(f: ConfigFields): BitNetQuantization {
  const raw = f.object("quantization_config");
  if (raw === null) f.refuse("quantization_config is missing: a BitNet checkpoint names its quant_method \"bitnet\" and quantization_mode there");
  const q = ConfigFields.of(raw, `${f.source}: quantization_config`);
  if (raw.quant_method !== "bitnet") q.refuse(`quant_method ${JSON.stringify(raw.quant_method)} is not "bitnet"`);
  const mode = q.oneOf("quantization_mode", ["online", "offline"], "offline");
  const linearClass = q.oneOf("linear_class", ["autobitlinear", "bitlinear"], "bitlinear");
  if (mode === "online" && linearClass !== "autobitlinear") q.refuse("online quantization needs linear_class \"autobitlinear\"");
  q.refuseTrue("use_rms_norm");
  return { mode, linearClass };
}
