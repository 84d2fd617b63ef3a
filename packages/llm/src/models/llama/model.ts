/**
 * The Llama: token embedding → pre-norm decoder layers (RMSNorm, grouped-query attention with RoPE, SwiGLU MLP) →
 * final RMSNorm → LM head, tied or untied. Mistral, Qwen2, Qwen3 and Phi-3 are this model with a few changes, so
 * their files build on {@link llamaRecipe} and say only what differs.
 */
import type { Activation, TensorSource, Weight } from "@actorlm/tensor";
import { Attention, type AttentionBias, type AttentionSpecs } from "../blocks/attention.js";
import { DecoderLayer } from "../blocks/decoder-layer.js";
import { GatedMlp, type GatedMlpKey } from "../blocks/mlp.js";
import { RmsNorm } from "../blocks/norm.js";
import { ropeInvFreq } from "../blocks/rotary.js";
import type { ModelLoadOptions } from "../causal-lm.js";
import type { LlamaConfig } from "../config.js";
import { DecoderModel, decoderParts, loadDecoder, type DecoderRecipe, type OuterSpecs } from "../decoder.js";
import type { WeightSpec, WeightSpecs } from "../weights.js";

/** Options for loading a Llama checkpoint: the kernels to run on (required), storage format, limits, progress. */
export type LlamaLoadOptions = ModelLoadOptions;

/**
 * The specs of one Llama-family decoder layer's weights: its two norms, the attention's and the MLP's, and BitNet's
 * sub-norms when the variant has them.
 */
export type LlamaLayerSpecs = WeightSpecs<"inputNorm" | "postAttnNorm" | GatedMlpKey> & AttentionSpecs & Partial<WeightSpecs<"attnSubNorm" | "ffnSubNorm">>;

/** What a member of the Llama family changes in its layers. */
export interface LlamaVariant {
  /** Biases of the attention projections (Qwen2: q/k/v; Qwen3 with attention_bias: all four). Default none. */
  readonly attentionBias?: AttentionBias;
  /** RMSNorm of each head's queries and keys before RoPE (Qwen3). */
  readonly qkNorm?: boolean;
  /** Layer i's sliding window, 0 for full attention (Mistral, Qwen's sliding layers). Default: none slides. */
  readonly window?: (layer: number) => number;
  /** Dims of each head RoPE rotates (Phi-3's partial rotary). Default: the whole head. */
  readonly rotaryDim?: number;
  /** The MLP's gate activation. Default silu (SwiGLU); BitNet b1.58: relu2. */
  readonly act?: Activation;
  /** RMSNorms of the attention output before o_proj and of the gated product before down_proj (BitNet b1.58). */
  readonly subNorms?: boolean;
}

/** The recipe of a Llama-family model whose config is `C`, with `variant(config)`'s changes. */
export function llamaRecipe<C extends LlamaConfig>(variant: (config: C) => LlamaVariant = () => ({})): DecoderRecipe<C, LlamaLayerSpecs> {
  return {
    outerWeights: llamaOuterWeights,
    headWeight: llamaHeadWeight,
    layerWeights(i, c) {
      const p = `model.layers.${i}`;
      const v = variant(c);
      return {
        inputNorm: RmsNorm.weight(`${p}.input_layernorm.weight`, c.hiddenSize),
        ...Attention.weights(`${p}.self_attn`, c, v.attentionBias),
        ...(v.qkNorm === true ? Attention.qkNormWeights(`${p}.self_attn`, c) : {}),
        postAttnNorm: RmsNorm.weight(`${p}.post_attention_layernorm.weight`, c.hiddenSize),
        ...GatedMlp.weights(`${p}.mlp`, c),
        ...(v.subNorms === true ? {
          attnSubNorm: RmsNorm.weight(`${p}.self_attn.attn_sub_norm.weight`, c.numHeads * c.headDim),
          ffnSubNorm: RmsNorm.weight(`${p}.mlp.ffn_sub_norm.weight`, c.intermediateSize),
        } : {}),
      };
    },
    rotary: (c) => ({ rope: ropeInvFreq(variant(c).rotaryDim ?? c.headDim, c.ropeTheta, c.ropeScaling) }),
    layer(w, i, c, { ops, rotary }) {
      const v = variant(c);
      const norm = (weight: Weight | undefined) => weight === undefined ? null : new RmsNorm(ops, weight, c.rmsNormEps);
      const outputNorm = norm(w.attnSubNorm) ?? undefined;
      return new DecoderLayer(ops, c.hiddenSize, {
        attentionNorm: new RmsNorm(ops, w.inputNorm, c.rmsNormEps),
        attention: Attention.load(w, c, i, { rotary: rotary.rope, scale: 1 / Math.sqrt(c.headDim), window: v.window?.(i) ?? 0, normEps: c.rmsNormEps, outputNorm }, ops),
        mlpNorm: new RmsNorm(ops, w.postAttnNorm, c.rmsNormEps),
        mlp: GatedMlp.load(w, c, v.act ?? "silu", ops, norm(w.ffnSubNorm)),
      });
    },
    finalNorm: (w, c, ops) => new RmsNorm(ops, w.norm, c.rmsNormEps),
  };
}

/** `model.embed_tokens` and `model.norm`: the outer weights of every model in the Llama layout (Gemma's too). */
export function llamaOuterWeights(c: { readonly vocabSize: number; readonly hiddenSize: number }): OuterSpecs {
  return {
    embed: { name: "model.embed_tokens.weight", shape: [c.vocabSize, c.hiddenSize] },
    norm: RmsNorm.weight("model.norm.weight", c.hiddenSize),
  };
}

/** `lm_head`, unless the config ties it to the embedding. */
export function llamaHeadWeight(c: { readonly vocabSize: number; readonly hiddenSize: number; readonly tieWordEmbeddings: boolean }): WeightSpec | null {
  return c.tieWordEmbeddings ? null : { name: "lm_head.weight", shape: [c.vocabSize, c.hiddenSize] };
}

const LLAMA = llamaRecipe<LlamaConfig>();

/** A loaded, immutable Llama-family model. */
export class Llama extends DecoderModel<LlamaConfig> {
  /** Load the safetensors weights (single file or shards) of the model in `dir`, whose config.json gave `config`. */
  static async load(dir: string, config: LlamaConfig, options: LlamaLoadOptions): Promise<Llama> {
    return new Llama(await loadDecoder(dir, config, options, LLAMA));
  }

  /** Build a model from a normalized config and any tensor source, checking every weight's shape. */
  static fromSource(config: LlamaConfig, source: TensorSource, options: LlamaLoadOptions): Llama {
    return new Llama(decoderParts(config, source, options, LLAMA));
  }
}
