/**
 * Gemma 3 (text): embeddings scaled by √hidden; RMSNorms that scale by (1 + w); norms before and after both the
 * attention and the MLP; RMSNorm over each head's queries and keys; scores scaled by query_pre_attn_scalar^-½;
 * layers of two kinds (`layer_types`): sliding-window layers with their own RoPE base, and full-attention layers;
 * a GeGLU MLP (tanh-approximated GELU); soft-capping of scores and logits when the config asks for it.
 */
import type { Activation } from "@actorlm/tensor";
import { Attention, type AttentionSpecs } from "./blocks/attention.js";
import type { DecoderDims } from "./blocks/buffers.js";
import { DecoderLayer } from "./blocks/decoder-layer.js";
import { GatedMlp, type GatedMlpKey } from "./blocks/mlp.js";
import { RmsNorm } from "./blocks/norm.js";
import { ropeInvFreq } from "./blocks/rotary.js";
import { ConfigFields, type RopeParameters } from "./config-fields.js";
import { DecoderModel, loadDecoder, type DecoderRecipe } from "./decoder.js";
import { llamaHeadWeight, llamaOuterWeights } from "./llama/model.js";
import type { ModelArchitecture } from "./registry.js";
import type { WeightSpecs } from "./weights.js";

/** A Gemma 3 text config with transformers' Gemma3TextConfig defaults filled in. */
export interface Gemma3Config extends DecoderDims {
  readonly modelType: string;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
  readonly attentionBias: boolean;
  /** Scores are scaled by queryPreAttnScalar^-½. */
  readonly queryPreAttnScalar: number;
  /** Score soft-cap (0: none). */
  readonly attnSoftcap: number;
  /** Logit soft-cap (0: none). */
  readonly finalSoftcap: number;
  /** Each layer's sliding window; 0 for full-attention layers. */
  readonly windows: readonly number[];
  /** RoPE of the full-attention layers and of the sliding ones. */
  readonly ropeFull: RopeParameters;
  readonly ropeSliding: RopeParameters;
  readonly activation: Activation;
}

/** hidden_activation values that mean the tanh-approximated GELU. */
const TANH_GELU = ["gelu_pytorch_tanh", "gelu_new"] as const;

/** Normalize and validate a Gemma 3 text config.json; `source` names the file. */
export function parseGemma3Config(raw: unknown, source = "config.json"): Gemma3Config {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ gemma3_text: "Gemma3ForCausalLM" });
  f.oneOf("hidden_activation", TANH_GELU, "gelu_pytorch_tanh");
  f.refuseTrue("use_bidirectional_attention");
  const numHeads = f.int("num_attention_heads", 8);
  const numKvHeads = f.int("num_key_value_heads", 4);
  const headDim = f.int("head_dim", 256);
  const numLayers = f.int("num_hidden_layers", 26);
  if (numHeads % numKvHeads !== 0) f.refuse(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  if (headDim % 2 !== 0) f.refuse(`head_dim ${headDim} must be even for RoPE`);
  const pattern = f.int("sliding_window_pattern", f.int("_sliding_window_pattern", 6));
  return {
    modelType,
    vocabSize: f.int("vocab_size", 262208),
    hiddenSize: f.int("hidden_size", 2304),
    intermediateSize: f.int("intermediate_size", 9216),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: f.int("max_position_embeddings", 131072),
    rmsNormEps: f.positive("rms_norm_eps", 1e-6),
    tieWordEmbeddings: f.bool("tie_word_embeddings", true),
    attentionBias: f.bool("attention_bias", false),
    queryPreAttnScalar: f.positive("query_pre_attn_scalar", 256),
    attnSoftcap: f.optionalPositive("attn_logit_softcapping"),
    finalSoftcap: f.optionalPositive("final_logit_softcapping"),
    windows: f.layerWindows(numLayers, f.window("sliding_window", 4096), (i) => (i + 1) % pattern !== 0),
    ...gemmaRope(f),
    activation: "gelu_tanh",
  };
}

/**
 * RoPE per layer type: `rope_parameters` keyed by `full_attention` / `sliding_attention` (transformers 5), or the
 * older `rope_theta` + `rope_scaling` for full layers and `rope_local_base_freq` for sliding ones.
 */
function gemmaRope(f: ConfigFields): { ropeFull: RopeParameters; ropeSliding: RopeParameters } {
  const params = f.object("rope_parameters");
  const full = params?.full_attention, sliding = params?.sliding_attention;
  if (params !== null && (isObject(full) || isObject(sliding))) {
    if (!isObject(full) || !isObject(sliding)) f.refuse("rope_parameters must give both full_attention and sliding_attention");
    return { ropeFull: f.rope(full, 1_000_000), ropeSliding: f.rope(sliding, 10_000) };
  }
  return {
    ropeFull: f.rope(params ?? f.object("rope_scaling") ?? {}, 1_000_000),
    ropeSliding: f.rope({ rope_theta: f.positive("rope_local_base_freq", 10_000) }),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Gemma3LayerSpecs = WeightSpecs<"inputNorm" | "postAttnNorm" | "preMlpNorm" | "postMlpNorm" | GatedMlpKey> & AttentionSpecs;

/** Gemma's RMSNorm weight: stored as 1 + w. */
const norm = (name: string, width: number) => RmsNorm.weight(name, width, { addOne: true });

const GEMMA3: DecoderRecipe<Gemma3Config, Gemma3LayerSpecs> = {
  outerWeights: (c) => ({ ...llamaOuterWeights(c), norm: norm("model.norm.weight", c.hiddenSize) }),
  headWeight: llamaHeadWeight,
  layerWeights(i, c) {
    const p = `model.layers.${i}`, h = c.hiddenSize;
    return {
      inputNorm: norm(`${p}.input_layernorm.weight`, h),
      ...Attention.weights(`${p}.self_attn`, c, c.attentionBias ? "all" : "none"),
      ...Attention.qkNormWeights(`${p}.self_attn`, c, true),
      postAttnNorm: norm(`${p}.post_attention_layernorm.weight`, h),
      preMlpNorm: norm(`${p}.pre_feedforward_layernorm.weight`, h),
      ...GatedMlp.weights(`${p}.mlp`, c),
      postMlpNorm: norm(`${p}.post_feedforward_layernorm.weight`, h),
    };
  },
  rotary: (c) => ({
    full: ropeInvFreq(c.headDim, c.ropeFull.theta, c.ropeFull.scaling),
    sliding: ropeInvFreq(c.headDim, c.ropeSliding.theta, c.ropeSliding.scaling),
  }),
  layer(w, i, c, { ops, rotary }) {
    const window = c.windows[i], eps = c.rmsNormEps;
    const settings = {
      rotary: window > 0 ? rotary.sliding : rotary.full, scale: c.queryPreAttnScalar ** -0.5, window, softcap: c.attnSoftcap, normEps: eps,
    };
    return new DecoderLayer(ops, c.hiddenSize, {
      attentionNorm: new RmsNorm(ops, w.inputNorm, eps),
      attention: Attention.load(w, c, i, settings, ops),
      attentionPostNorm: new RmsNorm(ops, w.postAttnNorm, eps),
      mlpNorm: new RmsNorm(ops, w.preMlpNorm, eps),
      mlp: GatedMlp.load(w, c, c.activation, ops),
      mlpPostNorm: new RmsNorm(ops, w.postMlpNorm, eps),
    });
  },
  finalNorm: (w, c, ops) => new RmsNorm(ops, w.norm, c.rmsNormEps),
  embeddingScale: (c) => Math.fround(Math.sqrt(c.hiddenSize)),
  logitSoftcap: (c) => c.finalSoftcap,
};

/** Gemma 3's text model, registered for model_type `gemma3_text`. */
export const gemma3Architecture: ModelArchitecture<Gemma3Config, DecoderModel<Gemma3Config>> = {
  name: "gemma3",
  modelTypes: ["gemma3_text"],
  parseConfig: parseGemma3Config,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, GEMMA3)),
};
