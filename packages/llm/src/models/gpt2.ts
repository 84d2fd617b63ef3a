/**
 * GPT-2: LayerNorms with bias, learned position embeddings added to the token embeddings, multi-head attention
 * without RoPE whose fused `c_attn` (and every other projection) is stored in Conv1D layout — [in, out], transposed at
 * load and cut into q, k and v — a tanh-GELU MLP with biases, and a head tied to the embedding.
 */
import type { Activation, Buffer, Kernels } from "@actorlm/tensor";
import { Attention, type AttentionSpecs } from "./blocks/attention.js";
import type { DecoderBuffers, DecoderDims } from "./blocks/buffers.js";
import { DecoderLayer } from "./blocks/decoder-layer.js";
import type { FeedForward } from "./blocks/mlp.js";
import { LayerNorm } from "./blocks/norm.js";
import { ConfigFields } from "./config-fields.js";
import { DecoderModel, loadDecoder, type DecoderRecipe, type HasTensor } from "./decoder.js";
import type { ModelArchitecture } from "./registry.js";
import type { WeightSpec, WeightSpecs, Weights } from "./weights.js";

/** A GPT-2 config with transformers' GPT2Config defaults filled in (one KV head per head, head width hidden / heads). */
export interface Gpt2Config extends DecoderDims {
  readonly modelType: string;
  readonly layerNormEps: number;
  readonly tieWordEmbeddings: boolean;
  /** Scores divided by √headDim. */
  readonly scaleAttnWeights: boolean;
  /** Scores of layer i further divided by i + 1. */
  readonly scaleAttnByInverseLayerIdx: boolean;
  readonly activation: Activation;
}

/** Normalize and validate a GPT-2 config.json; `source` names the file. */
export function parseGpt2Config(raw: unknown, source = "config.json"): Gpt2Config {
  const f = ConfigFields.of(raw, source);
  const modelType = f.plainModelType({ gpt2: "GPT2LMHeadModel" });
  f.oneOf("activation_function", ["gelu_new", "gelu_pytorch_tanh"], "gelu_new");
  f.refuseTrue("add_cross_attention");
  const hiddenSize = f.int("n_embd", 768);
  const numHeads = f.int("n_head", 12);
  if (hiddenSize % numHeads !== 0) f.refuse(`n_embd ${hiddenSize} is not a multiple of n_head ${numHeads}`);
  return {
    modelType,
    vocabSize: f.int("vocab_size", 50257),
    hiddenSize,
    intermediateSize: f.int("n_inner", 4 * hiddenSize),
    numLayers: f.int("n_layer", 12),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositionEmbeddings: f.int("n_positions", 1024),
    layerNormEps: f.positive("layer_norm_epsilon", 1e-5),
    tieWordEmbeddings: f.bool("tie_word_embeddings", true),
    scaleAttnWeights: f.bool("scale_attn_weights", true),
    // reorder_and_upcast_attn only changes the float order of half-precision training; this engine computes in float32
    scaleAttnByInverseLayerIdx: f.bool("scale_attn_by_inverse_layer_idx", false),
    activation: "gelu_tanh",
  };
}

type MlpKey = "wFc" | "bFc" | "wProj" | "bProj";

/** GPT-2's MLP: proj(act(fc(x) + b)) + b. */
class Gpt2Mlp implements FeedForward {
  constructor(private readonly ops: Kernels, private readonly c: Gpt2Config, private readonly w: Weights<MlpKey>) {}

  /** out = MLP(s.xb) over R rows (out += MLP(s.xb) when `add`). */
  forward(s: DecoderBuffers, R: number, out: Buffer, add: boolean): void {
    const { ops, w } = this;
    ops.matmul(s.gate, s.xb, w.wFc, R, w.bFc);                                       // h = x Wfcᵀ + b
    ops.activation(s.gate, s.gate, R * this.c.intermediateSize, this.c.activation);  // h = gelu(h)
    ops.matmul(out, s.gate, w.wProj, R, w.bProj, add);                               // out (+)= h Wprojᵀ + b
  }
}

type Gpt2LayerSpecs = WeightSpecs<"ln1" | "ln1Bias" | "ln2" | "ln2Bias" | MlpKey> & AttentionSpecs;

/** The checkpoint's prefix: "transformer." for GPT2LMHeadModel saves, none for the original GPT2Model ones. */
const prefix = (has: HasTensor) => (has("transformer.wte.weight") ? "transformer." : "");

/** A Conv1D weight [in, out] as the [out, in] matrix the kernels take, or `rows` of it from `offset` (fused c_attn). */
function conv1d(name: string, inputs: number, outputs: number, rows = outputs, offset = 0): WeightSpec {
  return { name, shape: [rows, inputs], from: { shape: [inputs, outputs], transposed: true, offset } };
}

/** Elements offset .. offset + n of a bias vector of `total`. */
function biasPart(name: string, total: number, n = total, offset = 0): WeightSpec {
  return n === total ? { name, shape: [n] } : { name, shape: [n], from: { shape: [total], offset } };
}

const GPT2: DecoderRecipe<Gpt2Config, Gpt2LayerSpecs> = {
  outerWeights(c, has) {
    const p = prefix(has), h = c.hiddenSize, P = c.maxPositionEmbeddings;
    return {
      embed: { name: `${p}wte.weight`, shape: [c.vocabSize, h] },
      positions: { name: `${p}wpe.weight`, shape: [P * h], from: { shape: [P, h] } },
      norm: { name: `${p}ln_f.weight`, shape: [h] },
      normBias: { name: `${p}ln_f.bias`, shape: [h] },
    };
  },
  headWeight: (c) => (c.tieWordEmbeddings ? null : { name: "lm_head.weight", shape: [c.vocabSize, c.hiddenSize] }),
  layerWeights(i, c, has) {
    const p = `${prefix(has)}h.${i}`, h = c.hiddenSize, m = c.intermediateSize;
    const attn = `${p}.attn.c_attn`;
    return {
      ln1: { name: `${p}.ln_1.weight`, shape: [h] },
      ln1Bias: { name: `${p}.ln_1.bias`, shape: [h] },
      wq: conv1d(`${attn}.weight`, h, 3 * h, h, 0),
      wk: conv1d(`${attn}.weight`, h, 3 * h, h, h),
      wv: conv1d(`${attn}.weight`, h, 3 * h, h, 2 * h),
      bq: biasPart(`${attn}.bias`, 3 * h, h, 0),
      bk: biasPart(`${attn}.bias`, 3 * h, h, h),
      bv: biasPart(`${attn}.bias`, 3 * h, h, 2 * h),
      wo: conv1d(`${p}.attn.c_proj.weight`, h, h),
      bo: biasPart(`${p}.attn.c_proj.bias`, h),
      ln2: { name: `${p}.ln_2.weight`, shape: [h] },
      ln2Bias: { name: `${p}.ln_2.bias`, shape: [h] },
      wFc: conv1d(`${p}.mlp.c_fc.weight`, h, m),
      bFc: biasPart(`${p}.mlp.c_fc.bias`, m),
      wProj: conv1d(`${p}.mlp.c_proj.weight`, m, h),
      bProj: biasPart(`${p}.mlp.c_proj.bias`, h),
    };
  },
  rotary: () => ({}),
  layer(w, i, c, { ops }) {
    const scale = (c.scaleAttnWeights ? 1 / Math.sqrt(c.headDim) : 1) / (c.scaleAttnByInverseLayerIdx ? i + 1 : 1);
    return new DecoderLayer(ops, c.hiddenSize, {
      attentionNorm: new LayerNorm(ops, w.ln1, w.ln1Bias, c.layerNormEps),
      attention: Attention.load(w, c, i, { rotary: null, scale }, ops),
      mlpNorm: new LayerNorm(ops, w.ln2, w.ln2Bias, c.layerNormEps),
      mlp: new Gpt2Mlp(ops, c, w),
    });
  },
  finalNorm(w, c, ops) {
    if (w.normBias === undefined) throw new Error("gpt2: ln_f.bias was not loaded"); // outerWeights always names it
    return new LayerNorm(ops, w.norm, w.normBias, c.layerNormEps);
  },
};

/** GPT-2, registered for model_type `gpt2`. */
export const gpt2Architecture: ModelArchitecture<Gpt2Config, DecoderModel<Gpt2Config>> = {
  name: "gpt2",
  modelTypes: ["gpt2"],
  parseConfig: parseGpt2Config,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, GPT2)),
};
