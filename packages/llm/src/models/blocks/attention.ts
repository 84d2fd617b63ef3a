/**
 * Grouped-query self-attention over the paged KV cache: q/k/v projections (with biases when the checkpoint has
 * them), optional RMSNorm of each head's queries and keys, rotary positions (whole or partial heads, or none when
 * positions are learned), a sliding window and score soft-capping when a layer asks for them, a norm of the output
 * when the architecture has one (BitNet), the output projection.
 */
import type { Batch, Buffer, Kernels, KvCache } from "@actorlm/tensor";
import type { WeightSpec, WeightSpecs, Weights } from "../weights.js";
import type { DecoderBuffers, DecoderDims } from "./buffers.js";
import { RmsNorm, type Norm } from "./norm.js";
import type { Rotary } from "./rotary.js";

/** The projections every attention block has: q [heads·headDim, hidden], k and v [kvHeads·headDim, hidden], o [hidden, heads·headDim]. */
export type AttentionKey = "wq" | "wk" | "wv" | "wo";
/** What some have: biases of the projections, and q/k RMSNorm weights [headDim]. */
export type AttentionExtraKey = "bq" | "bk" | "bv" | "bo" | "qNorm" | "kNorm";
/** Loaded attention weights: the projections, and whichever extras the checkpoint has. */
export type AttentionWeights = Weights<AttentionKey> & Partial<Weights<AttentionExtraKey>>;
/** Specs of attention weights: the projections, and whichever extras the architecture needs. */
export type AttentionSpecs = WeightSpecs<AttentionKey> & Partial<WeightSpecs<AttentionExtraKey>>;

/** Which projections carry a bias: none (Llama), q/k/v (Qwen2), or all four. */
export type AttentionBias = "none" | "qkv" | "all";

/** How one layer's attention computes, beyond its weights. */
export interface AttentionSettings {
  /** Rotary tables for q and k; null when positions are added to the embeddings instead (GPT-2). */
  readonly rotary: Rotary | null;
  /** Multiplier of q·k (1/√headDim unless the architecture says otherwise). */
  readonly scale: number;
  /** Sliding window in positions (0: every earlier position). */
  readonly window?: number;
  /** Soft-capping of the scores, cap · tanh(s / cap) (0: none). */
  readonly softcap?: number;
  /** eps of the q/k RMSNorms, when the weights have them. */
  readonly normEps?: number;
  /** Norm of the attention output before o_proj (BitNet b1.58's attn_sub_norm); none when absent. */
  readonly outputNorm?: Norm;
}

/** Grouped-query attention of one layer. */
export class Attention {
  private readonly qNorm: RmsNorm | null;
  private readonly kNorm: RmsNorm | null;

  private constructor(
    private readonly ops: Kernels,
    private readonly dims: DecoderDims,
    private readonly layer: number,
    private readonly w: AttentionWeights,
    private readonly settings: AttentionSettings,
  ) {
    const eps = settings.normEps ?? 1e-6;
    this.qNorm = w.qNorm === undefined ? null : new RmsNorm(ops, w.qNorm, eps);
    this.kNorm = w.kNorm === undefined ? null : new RmsNorm(ops, w.kNorm, eps);
  }

  /** The q/k/v/o projections under `prefix` in the Llama layout (`q_proj` … `o_proj`), with the biases `bias` names. */
  static weights(prefix: string, dims: DecoderDims, bias: AttentionBias = "none"): AttentionSpecs {
    const { hiddenSize: h, numHeads, numKvHeads, headDim } = dims;
    const q = numHeads * headDim, kv = numKvHeads * headDim;
    const specs: { -readonly [key in AttentionKey | AttentionExtraKey]?: WeightSpec } = {
      wq: { name: `${prefix}.q_proj.weight`, shape: [q, h] },
      wk: { name: `${prefix}.k_proj.weight`, shape: [kv, h] },
      wv: { name: `${prefix}.v_proj.weight`, shape: [kv, h] },
      wo: { name: `${prefix}.o_proj.weight`, shape: [h, q] },
    };
    if (bias !== "none") {
      specs.bq = { name: `${prefix}.q_proj.bias`, shape: [q] };
      specs.bk = { name: `${prefix}.k_proj.bias`, shape: [kv] };
      specs.bv = { name: `${prefix}.v_proj.bias`, shape: [kv] };
    }
    if (bias === "all") specs.bo = { name: `${prefix}.o_proj.bias`, shape: [h] };
    return specs as AttentionSpecs;
  }

  /** The RMSNorms of each head's queries and keys under `prefix` (`q_norm`, `k_norm`; Qwen3, Gemma 3). */
  static qkNormWeights(prefix: string, dims: DecoderDims, addOne = false): WeightSpecs<"qNorm" | "kNorm"> {
    return {
      qNorm: RmsNorm.weight(`${prefix}.q_norm.weight`, dims.headDim, { addOne }),
      kNorm: RmsNorm.weight(`${prefix}.k_norm.weight`, dims.headDim, { addOne }),
    };
  }

  /** Layer `layer`'s attention over its loaded weights. */
  static load(w: AttentionWeights, dims: DecoderDims, layer: number, settings: AttentionSettings, ops: Kernels): Attention {
    return new Attention(ops, dims, layer, w, settings);
  }

  /**
   * out = attention(s.xb) for the batch over this layer of the cache, which it extends with the batch's keys and values
   * (out += attention(s.xb) when `add`: a residual add in the output projection).
   */
  forward(s: DecoderBuffers, batch: Batch, cache: KvCache, out: Buffer, add: boolean): void {
    const { ops, w, settings: set } = this;
    const { numHeads: heads, numKvHeads: kvHeads, headDim } = this.dims;
    const R = batch.rows;
    ops.matmul(s.q, s.xb, w.wq, R, w.bq);                                  // q = x Wqᵀ (+ bq)
    ops.matmul(s.k, s.xb, w.wk, R, w.bk);                                  // k = x Wkᵀ (+ bk)
    ops.matmul(s.v, s.xb, w.wv, R, w.bv);                                  // v = x Wvᵀ (+ bv)
    this.qNorm?.forward(s.q, s.q, R * heads);                              // q = norm(q), head by head
    this.kNorm?.forward(s.k, s.k, R * kvHeads);                            // k = norm(k), head by head
    if (set.rotary !== null) {                                             // rotate q, k by position
      const { cos, sin, rotaryDim } = set.rotary;
      ops.rope(s.q, cos, sin, batch, heads, headDim, rotaryDim);
      ops.rope(s.k, cos, sin, batch, kvHeads, headDim, rotaryDim);
    }
    ops.kvWrite(cache, this.layer, s.k, s.v, batch);                       // append k, v to the cache
    ops.attention(s.att, s.q, cache, this.layer, batch, {                  // softmax(q kᵀ · scale, causal) v
      heads, kvHeads, headDim, scale: set.scale, window: set.window ?? 0, softcap: set.softcap ?? 0,
    });
    set.outputNorm?.forward(s.att, s.att, R);                              // att = norm(att) (BitNet)
    ops.matmul(out, s.att, w.wo, R, w.bo, add);                            // out (+)= att Woᵀ (+ bo)
  }
}

