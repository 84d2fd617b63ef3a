/**
 * Hugging Face `config.json` of a BitNet b1.58 model (`model_type: "bitnet"`, Microsoft's bitnet-b1.58-2B-4T layout):
 * a Llama-shaped config (parsed by the Llama's parser) plus its `quantization_config`. Defaults are transformers'
 * (`BitNetConfig`: hidden_act relu2; `BitNetQuantConfig`: linear_class bitlinear, quantization_mode offline).
 */
import { LlmError } from "../../errors.js";
import { parseLlamaConfig, type LlamaConfig } from "../config.js";

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

type Raw = Record<string, unknown>;

/** Normalize and validate a parsed BitNet `config.json`; `source` names the file in error messages (MODEL_LOAD). */
export function parseBitNetConfig(raw: unknown, source = "config.json"): BitNetConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) refuse(source, "is not a JSON object");
  const c = raw as Raw;
  if (c.model_type !== "bitnet") refuse(source, `model_type ${JSON.stringify(c.model_type)} is not "bitnet"`);
  const archs = c.architectures;
  if (archs !== undefined && archs !== null && (!Array.isArray(archs) || !archs.includes(BITNET_MODEL_TYPES.bitnet))) {
    refuse(source, `architectures ${JSON.stringify(archs)} are not supported (expected ${BITNET_MODEL_TYPES.bitnet})`);
  }
  const act = c.hidden_act ?? "relu2";
  if (act !== "relu2") refuse(source, `hidden_act ${JSON.stringify(act)} is not supported (BitNet b1.58 uses "relu2")`);
  // everything else is a Llama's: parse it as one (its parser checks shapes, heads, RoPE, tied embeddings)
  const llama = parseLlamaConfig({ ...c, model_type: "llama", architectures: undefined, hidden_act: "silu" }, source);
  if (llama.numHeads * llama.headDim !== llama.hiddenSize) {
    refuse(source, `num_attention_heads × head_dim (${llama.numHeads * llama.headDim}) must equal hidden_size ${llama.hiddenSize}: attn_sub_norm normalizes the attention output over hidden_size`);
  }
  return { ...llama, modelType: "bitnet", quantization: quantizationOf(c.quantization_config, source) };
}

/** The checked `quantization_config`. */
function quantizationOf(q: unknown, source: string): BitNetQuantization {
  if (typeof q !== "object" || q === null || Array.isArray(q)) {
    refuse(source, "quantization_config is missing: a BitNet checkpoint names its quant_method \"bitnet\" and quantization_mode there");
  }
  const r = q as Raw;
  if (r.quant_method !== "bitnet") refuse(source, `quantization_config.quant_method ${JSON.stringify(r.quant_method)} is not "bitnet"`);
  const mode = r.quantization_mode ?? "offline";
  if (mode !== "online" && mode !== "offline") refuse(source, `quantization_config.quantization_mode ${JSON.stringify(mode)} is not "online" or "offline"`);
  const linearClass = r.linear_class ?? "bitlinear";
  if (linearClass !== "autobitlinear" && linearClass !== "bitlinear") {
    refuse(source, `quantization_config.linear_class ${JSON.stringify(linearClass)} is not "autobitlinear" or "bitlinear"`);
  }
  if (mode === "online" && linearClass !== "autobitlinear") refuse(source, "quantization_config: online quantization needs linear_class \"autobitlinear\"");
  if (r.use_rms_norm === true) refuse(source, "quantization_config.use_rms_norm: true is not supported");
  return { mode, linearClass };
}

function refuse(source: string, what: string): never {
  throw new LlmError("MODEL_LOAD", `${source}: ${what}`, { file: source });
}
