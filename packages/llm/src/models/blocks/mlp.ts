/**
 * Feed-forward blocks. The gated MLP, down(act(gate(x)) · up(x)), is SwiGLU with silu (Llama, Qwen, Mistral,
 * Phi-3), GeGLU with tanh-GELU (Gemma 3) and squared ReLU with a norm before down_proj (BitNet b1.58); GPT-2's plain
 * MLP lives beside its model.
 */
import type { Activation, Buffer, Kernels, Weight } from "@actorlm/tensor";
import type { WeightSpecs, Weights } from "../weights.js";
import type { DecoderBuffers, DecoderDims } from "./buffers.js";
import type { Norm } from "./norm.js";

/** A feed-forward block over `rows` rows: out = FFN(s.xb), or out += FFN(s.xb) when `add` (a residual add in the last product). */
export interface FeedForward {
  forward(s: DecoderBuffers, rows: number, out: Buffer, add: boolean): void;
}

/** The gated MLP's weights: gate and up [intermediate, hidden], down [hidden, intermediate]. */
export type GatedMlpKey = "wGate" | "wUp" | "wDown";

/** down(act(gate(x)) · up(x)). */
export class GatedMlp implements FeedForward {
  private constructor(
    private readonly ops: Kernels,
    private readonly dims: DecoderDims,
    private readonly act: Activation,
    private readonly wGate: Weight, // [intermediate, hidden]
    private readonly wUp: Weight,   // [intermediate, hidden]
    private readonly wDown: Weight, // [hidden, intermediate]
    private readonly innerNorm: Norm | null,
  ) {}

  /** The gate/up/down projections under `prefix` (e.g. "model.layers.0.mlp"), as separate tensors. */
  static weights(prefix: string, dims: DecoderDims): WeightSpecs<GatedMlpKey> {
    const { hiddenSize: h, intermediateSize: i } = dims;
    return {
      wGate: { name: `${prefix}.gate_proj.weight`, shape: [i, h] },
      wUp: { name: `${prefix}.up_proj.weight`, shape: [i, h] },
      wDown: { name: `${prefix}.down_proj.weight`, shape: [h, i] },
    };
  }

  /** The block over its loaded weights, gated by `act`; `innerNorm` normalizes act(g) · u before down_proj (BitNet's ffn_sub_norm). */
  static load(w: Weights<GatedMlpKey>, dims: DecoderDims, act: Activation, ops: Kernels, innerNorm: Norm | null = null): GatedMlp {
    return new GatedMlp(ops, dims, act, w.wGate, w.wUp, w.wDown, innerNorm);
  }

  /** out = MLP(s.xb) over R rows (out += MLP(s.xb) when `add`). */
  forward(s: DecoderBuffers, R: number, out: Buffer, add: boolean): void {
    const { ops } = this;
    ops.gatedMatmul(s.gate, s.xb, this.wGate, this.wUp, R, this.act, s.up);       // g = act(x Wgᵀ) · (x Wuᵀ)
    this.innerNorm?.forward(s.gate, s.gate, R);                                   // g = norm(g) (BitNet)
    ops.matmul(out, s.gate, this.wDown, R, undefined, add);                       // out (+)= g Wdᵀ
  }
}
