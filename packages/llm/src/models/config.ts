/**
 * Hugging Face `config.json` for the Llama family → one normalized, validated config.
 * Every default below is the one transformers' `LlamaConfig` applies when a field is absent.
 */
import { join } from "node:path";
import { readJsonFile } from "../json-file.js";
import type { DecoderDims } from "./blocks/buffers.js";
import { ConfigFields, type RopeScaling } from "./config-fields.js";

export type { RopeScaling } from "./config-fields.js";

/** A Llama-family config with defaults filled in and every field checked: the decoder's dims and the Llama's own fields. */
export interface LlamaConfig extends DecoderDims {
  readonly modelType: string;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** True: the LM head reuses the token embedding matrix; false: a separate `lm_head`. */
  readonly tieWordEmbeddings: boolean;
}

/**
 * The model_type values of the Llama family, each with the HF architecture class it implies: the one list
 * both this parser and the architecture registry use.
 */
export const LLAMA_MODEL_TYPES: Readonly<Record<string, string>> = { llama: "LlamaForCausalLM" };

/** Normalize and validate a parsed `config.json`; `source` names the file in error messages. */
export function parseLlamaConfig(raw: unknown, source = "config.json"): LlamaConfig {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType(LLAMA_MODEL_TYPES);
  f.oneOf("hidden_act", ["silu"], "silu");
  f.refuseTrue("attention_bias", "mlp_bias");
  return { modelType, ...parseLlamaFamily(f, { rmsNormEps: 1e-6, maxPositionEmbeddings: 2048 }) };
}

/** Defaults that differ between members of the Llama family. */
export interface LlamaFamilyDefaults {
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  /** head_dim when absent (Qwen3: 128); default hidden_size / num_attention_heads. */
  readonly headDim?: number;
}

/**
 * The fields every Llama-style config shares (sizes, heads, RMSNorm eps, one RoPE, head tying), checked: Mistral,
 * Qwen2, Qwen3 and Phi-3 parse these the same way and add what differs.
 */
export function parseLlamaFamily(f: ConfigFields, defaults: LlamaFamilyDefaults): Omit<LlamaConfig, "modelType"> {
  const hiddenSize = f.int("hidden_size");
  const numHeads = f.int("num_attention_heads");
  const numKvHeads = f.int("num_key_value_heads", numHeads);
  const headDim = f.int("head_dim", defaults.headDim ?? Math.floor(hiddenSize / numHeads));
  const maxPositionEmbeddings = f.int("max_position_embeddings", defaults.maxPositionEmbeddings);
  if (numHeads % numKvHeads !== 0) f.refuse(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  if (headDim % 2 !== 0) f.refuse(`head_dim ${headDim} must be even for RoPE`);
  const { theta, scaling } = f.globalRope();
  return {
    vocabSize: f.int("vocab_size"),
    hiddenSize,
    intermediateSize: f.int("intermediate_size"),
    numLayers: f.int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: f.positive("rms_norm_eps", defaults.rmsNormEps),
    maxPositionEmbeddings,
    ropeTheta: theta,
    ropeScaling: scaling,
    tieWordEmbeddings: f.bool("tie_word_embeddings", false),
  };
}

/** Read `config.json` from a model directory and normalize it (model loading reads it once, in the registry). */
export async function loadLlamaConfig(dir: string): Promise<LlamaConfig> {
  const path = join(dir, "config.json");
  return parseLlamaConfig(await readJsonFile(path), path);
}
