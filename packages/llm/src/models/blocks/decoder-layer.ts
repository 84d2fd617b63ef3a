/**
 * The decoder layer skeleton every architecture here shares: a residual stream with an attention block and a
 * feed-forward block, each behind its own pre-norm, with optional post-norms before the residual add (Gemma's
 * "sandwich" norms):
 *
 *     x += postNorm(attention(norm(x)));   x += postNorm(mlp(norm(x)))
 *
 * Without a post-norm the residual add is the last product's epilogue (one op and one thread barrier fewer).
 */
import type { Batch, Kernels, KvCache } from "@actorlm/tensor";
import type { Attention } from "./attention.js";
import type { DecoderBuffers } from "./buffers.js";
import type { FeedForward } from "./mlp.js";
import type { Norm } from "./norm.js";

/** The blocks of one layer. */
export interface DecoderLayerParts {
  /** Before attention (HF: `input_layernorm`, GPT-2: `ln_1`). */
  readonly attentionNorm: Norm;
  readonly attention: Attention;
  /** After attention, before the residual add (Gemma: `post_attention_layernorm`); none in most models. */
  readonly attentionPostNorm?: Norm;
  /** Before the MLP (Llama: `post_attention_layernorm`, Gemma: `pre_feedforward_layernorm`, GPT-2: `ln_2`). */
  readonly mlpNorm: Norm;
  readonly mlp: FeedForward;
  /** After the MLP, before the residual add (Gemma: `post_feedforward_layernorm`). */
  readonly mlpPostNorm?: Norm;
}

/** One decoder layer over the residual stream. */
export class DecoderLayer {
  /** A layer of `parts` over a residual stream of `hiddenSize` values per row. */
  constructor(private readonly ops: Kernels, private readonly hiddenSize: number, private readonly parts: DecoderLayerParts) {}

  /** Updates the residual stream s.x in place for the batch's rows, extending this layer's cache entries. */
  forward(s: DecoderBuffers, batch: Batch, cache: KvCache): void {
    const { ops, parts: p } = this;
    const R = batch.rows;
    const n = R * this.hiddenSize;
    p.attentionNorm.forward(s.xb, s.x, R);                                // xb = norm(x)
    if (p.attentionPostNorm === undefined) p.attention.forward(s, batch, cache, s.x, true);   // x += attn(xb)
    else {
      p.attention.forward(s, batch, cache, s.proj, false);                // proj = attn(xb)
      p.attentionPostNorm.forward(s.proj, s.proj, R);                     // proj = postNorm(proj)
      ops.add(s.x, s.x, s.proj, n);                                       // x += proj
    }
    p.mlpNorm.forward(s.xb, s.x, R);                                      // xb = norm(x)
    if (p.mlpPostNorm === undefined) p.mlp.forward(s, R, s.x, true);      // x += mlp(xb)
    else {
      p.mlp.forward(s, R, s.proj, false);                                 // proj = mlp(xb)
      p.mlpPostNorm.forward(s.proj, s.proj, R);                           // proj = postNorm(proj)
      ops.add(s.x, s.x, s.proj, n);                                       // x += proj
    }
  }
}
