/**
 * Hugging Face `config.json` for the Llama family → one normalized, validated config.
 * Every default below is the one transformers' `LlamaConfig` applies when a field is absent.
 */
import { join } from "node:path";
import { LlmError } from "../errors.js";
import { readJsonFile } from "../json-file.js";

/** How RoPE frequencies are scaled (HF `rope_type`). */
export type RopeScaling =
  | { readonly type: "default" }
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** A Llama-family config with defaults filled in and every field checked. */
export interface LlamaConfig {
  readonly modelType: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Key/value heads (grouped-query attention); equals numHeads for plain multi-head attention. */
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** True: the LM head reuses the token embedding matrix; false: a separate `lm_head`. */
  readonly tieWordEmbeddings: boolean;
}

/**
 * The model_type values of the Llama family, each with the HF architecture class it implies: the one list
 * both this parser and the architecture registry use.
 */
export const LLAMA_MODEL_TYPES: Readonly<Record<string, string>> = { llama: "LlamaForCausalLM", mistral: "MistralForCausalLM" };

type Raw = Record<string, unknown>;

/** Normalize and validate a parsed `config.json`; `source` names the file in error messages. */
export function parseLlamaConfig(raw: unknown, source = "config.json"): LlamaConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) refuse(source, "is not a JSON object");
  const c = raw as Raw;
  const modelType = c.model_type;
  if (typeof modelType !== "string" || !Object.hasOwn(LLAMA_MODEL_TYPES, modelType)) {
    refuse(source, `model_type ${JSON.stringify(modelType)} is not supported (supported: ${Object.keys(LLAMA_MODEL_TYPES).join(", ")})`);
  }
  const archs = c.architectures;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || !archs.includes(LLAMA_MODEL_TYPES[modelType])) {
      refuse(source, `architectures ${JSON.stringify(archs)} are not supported (expected ${LLAMA_MODEL_TYPES[modelType]})`);
    }
  }
  const act = c.hidden_act ?? "silu";
  if (act !== "silu") refuse(source, `hidden_act ${JSON.stringify(act)} is not supported (only "silu")`);
  for (const flag of ["attention_bias", "mlp_bias"]) {
    if (c[flag] === true) refuse(source, `${flag}: true is not supported`);
  }
  const sliding = c.sliding_window;
  const hiddenSize = int(c, "hidden_size", source);
  const numHeads = int(c, "num_attention_heads", source);
  const numKvHeads = int(c, "num_key_value_heads", source, numHeads);
  const headDim = int(c, "head_dim", source, Math.floor(hiddenSize / numHeads));
  const maxPositionEmbeddings = int(c, "max_position_embeddings", source, 2048);
  if (typeof sliding === "number" && sliding < maxPositionEmbeddings) {
    refuse(source, `sliding_window ${sliding} < max_position_embeddings is not supported`);
  }
  if (numHeads % numKvHeads !== 0) refuse(source, `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  if (headDim % 2 !== 0) refuse(source, `head_dim ${headDim} must be even for RoPE`);
  const { theta, scaling } = ropeOf(c, source);
  const tie = c.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") refuse(source, `tie_word_embeddings must be a boolean`);
  return {
    modelType,
    vocabSize: int(c, "vocab_size", source),
    hiddenSize,
    intermediateSize: int(c, "intermediate_size", source),
    numLayers: int(c, "num_hidden_layers", source),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positive(c.rms_norm_eps ?? 1e-6, "rms_norm_eps", source),
    maxPositionEmbeddings,
    ropeTheta: theta,
    ropeScaling: scaling,
    tieWordEmbeddings: tie,
  };
}

/** Read `config.json` from a model directory and normalize it (model loading reads it once, in the registry). */
export async function loadLlamaConfig(dir: string): Promise<LlamaConfig> {
  const path = join(dir, "config.json");
  return parseLlamaConfig(await readJsonFile(path), path);
}

/** RoPE base and scaling, from top-level `rope_theta` + `rope_scaling` or from `rope_parameters`. */
function ropeOf(c: Raw, source: string): { theta: number; scaling: RopeScaling } {
  const params = objectOrNull(c.rope_parameters, "rope_parameters", source) ?? objectOrNull(c.rope_scaling, "rope_scaling", source) ?? {};
  const theta = positive(params.rope_theta ?? c.rope_theta ?? 10000, "rope_theta", source);
  const type = params.rope_type ?? params.type ?? "default";
  const field = (name: string) => positive(params[name], `rope ${name}`, source);
  switch (type) {
    case "default":
      return { theta, scaling: { type: "default" } };
    case "linear":
      return { theta, scaling: { type: "linear", factor: field("factor") } };
    case "llama3": {
      const scaling = {
        type: "llama3",
        factor: field("factor"),
        lowFreqFactor: field("low_freq_factor"),
        highFreqFactor: field("high_freq_factor"),
        originalMaxPositionEmbeddings: field("original_max_position_embeddings"),
      } as const;
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) refuse(source, "rope high_freq_factor must exceed low_freq_factor");
      return { theta, scaling };
    }
    default:
      return refuse(source, `rope_type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
  }
}

function refuse(source: string, what: string): never {
  throw new LlmError("MODEL_LOAD", `${source}: ${what}`, { file: source });
}

function int(c: Raw, name: string, source: string, fallback?: number): number {
  const v = c[name] ?? fallback;
  if (v === undefined) refuse(source, `required field ${name} is missing`);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) refuse(source, `${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function positive(v: unknown, name: string, source: string): number {
  if (v === undefined) refuse(source, `required field ${name} is missing`);
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) refuse(source, `${name} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function objectOrNull(v: unknown, name: string, source: string): Raw | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) refuse(source, `${name} must be an object`);
  return v as Raw;
}
