/**
 * The blocks of a Llama decoder: attention, MLP, decoder layer. Each has `weights` (the only place HF tensor
 * names appear: the weights it needs and their shapes), `load` (the block over those weights, loaded) and
 * `forward` (kernel calls on caller-owned scratch, reading like the math).
 */
import type { Backend, F32Tensor } from "@actorlm/tensor";
import type { KvCache } from "../../kv-cache.js";
import type { LlamaConfig } from "../config.js";
import type { RotaryTables } from "./rope.js";
import type { WeightSpecs, Weights } from "./weights.js";

type AttentionKey = "wq" | "wk" | "wv" | "wo";
type MlpKey = "wGate" | "wUp" | "wDown";
/** The keys of every weight one decoder layer loads. */
export type DecoderLayerKey = "inputNorm" | "postAttnNorm" | AttentionKey | MlpKey;

/** Activation buffers for up to `maxTokens` positions, allocated once and grown only when a longer call comes. */
export class LlamaScratch {
  maxTokens = 0;
  x = new Float32Array(0);      // [T, hidden]       residual stream
  xb = new Float32Array(0);     // [T, hidden]       normalized input of a block
  proj = new Float32Array(0);   // [T, hidden]       output of o_proj / down_proj
  q = new Float32Array(0);      // [T, heads·headDim]
  k = new Float32Array(0);      // [T, kvHeads·headDim]
  v = new Float32Array(0);      // [T, kvHeads·headDim]
  att = new Float32Array(0);    // [T, heads·headDim] attention output before o_proj
  gate = new Float32Array(0);   // [T, intermediate]
  up = new Float32Array(0);     // [T, intermediate]
  logits = new Float32Array(0); // [T, vocab] (or [1, vocab])
  scores = new Float32Array(0); // [positions]       one head's attention weights

  /** Empty buffers; the first `ensure` sizes them. */
  constructor(private readonly cfg: LlamaConfig) {}

  /** Make room for T new tokens attending over `positions` positions and `logitRows` rows of logits. */
  ensure(T: number, positions: number, logitRows: number): void {
    const c = this.cfg;
    if (T > this.maxTokens) {
      const n = Math.max(T, 2 * this.maxTokens);
      this.x = new Float32Array(n * c.hiddenSize);
      this.xb = new Float32Array(n * c.hiddenSize);
      this.proj = new Float32Array(n * c.hiddenSize);
      this.q = new Float32Array(n * c.numHeads * c.headDim);
      this.k = new Float32Array(n * c.numKvHeads * c.headDim);
      this.v = new Float32Array(n * c.numKvHeads * c.headDim);
      this.att = new Float32Array(n * c.numHeads * c.headDim);
      this.gate = new Float32Array(n * c.intermediateSize);
      this.up = new Float32Array(n * c.intermediateSize);
      this.maxTokens = n;
    }
    if (this.logits.length < logitRows * c.vocabSize) this.logits = new Float32Array(logitRows * c.vocabSize);
    if (this.scores.length < positions) this.scores = new Float32Array(positions);
  }
}

/** Grouped-query self-attention with rotary positions. */
export class LlamaAttention {
  private constructor(
    private readonly ops: Backend,
    private readonly cfg: LlamaConfig,
    private readonly wq: F32Tensor, // [heads·headDim, hidden]
    private readonly wk: F32Tensor, // [kvHeads·headDim, hidden]
    private readonly wv: F32Tensor, // [kvHeads·headDim, hidden]
    private readonly wo: F32Tensor, // [hidden, heads·headDim]
  ) {}

  /** The q/k/v/o projections under `prefix` (e.g. "model.layers.0.self_attn"). */
  static weights(prefix: string, cfg: LlamaConfig): WeightSpecs<AttentionKey> {
    const { hiddenSize: h, numHeads, numKvHeads, headDim } = cfg;
    return {
      wq: { name: `${prefix}.q_proj.weight`, shape: [numHeads * headDim, h] },
      wk: { name: `${prefix}.k_proj.weight`, shape: [numKvHeads * headDim, h] },
      wv: { name: `${prefix}.v_proj.weight`, shape: [numKvHeads * headDim, h] },
      wo: { name: `${prefix}.o_proj.weight`, shape: [h, numHeads * headDim] },
    };
  }

  /** The block over its loaded weights. */
  static load(w: Weights<AttentionKey>, cfg: LlamaConfig, ops: Backend): LlamaAttention {
    return new LlamaAttention(ops, cfg, w.wq, w.wk, w.wv, w.wo);
  }

  /** s.proj[T, hidden] = attention of s.xb (positions start ..) over layer `layer` of the cache, which it extends. */
  forward(s: LlamaScratch, cache: KvCache, layer: number, rope: RotaryTables, start: number, T: number): void {
    const { ops } = this;
    const { numHeads: heads, numKvHeads: kvHeads, headDim } = this.cfg;
    ops.matmul(s.q, s.xb, this.wq, T);                                     // q = x Wqᵀ
    ops.matmul(s.k, s.xb, this.wk, T);                                     // k = x Wkᵀ
    ops.matmul(s.v, s.xb, this.wv, T);                                     // v = x Wvᵀ
    ops.rope(s.q, rope.cos, rope.sin, start, T, heads, headDim);           // rotate q, k by position
    ops.rope(s.k, rope.cos, rope.sin, start, T, kvHeads, headDim);
    cache.write(layer, start, T, s.k, s.v);                                // append k, v to the cache
    ops.attention(s.att, s.q, cache.keys(layer), cache.values(layer), s.scores, // softmax(q kᵀ/√d, causal) v
      { tokens: T, heads, kvHeads, headDim, start, capacity: cache.capacity });
    ops.matmul(s.proj, s.att, this.wo, T);                                 // out = att Woᵀ
  }
}

/** The SwiGLU feed-forward block: down(silu(gate(x)) · up(x)). */
export class LlamaMlp {
  private constructor(
    private readonly ops: Backend,
    private readonly cfg: LlamaConfig,
    private readonly wGate: F32Tensor, // [intermediate, hidden]
    private readonly wUp: F32Tensor,   // [intermediate, hidden]
    private readonly wDown: F32Tensor, // [hidden, intermediate]
  ) {}

  /** The gate/up/down projections under `prefix` (e.g. "model.layers.0.mlp"). */
  static weights(prefix: string, cfg: LlamaConfig): WeightSpecs<MlpKey> {
    const { hiddenSize: h, intermediateSize: i } = cfg;
    return {
      wGate: { name: `${prefix}.gate_proj.weight`, shape: [i, h] },
      wUp: { name: `${prefix}.up_proj.weight`, shape: [i, h] },
      wDown: { name: `${prefix}.down_proj.weight`, shape: [h, i] },
    };
  }

  /** The block over its loaded weights. */
  static load(w: Weights<MlpKey>, cfg: LlamaConfig, ops: Backend): LlamaMlp {
    return new LlamaMlp(ops, cfg, w.wGate, w.wUp, w.wDown);
  }

  /** s.proj[T, hidden] = MLP(s.xb). */
  forward(s: LlamaScratch, T: number): void {
    const { ops } = this;
    ops.matmul(s.gate, s.xb, this.wGate, T);                              // g = x Wgᵀ
    ops.matmul(s.up, s.xb, this.wUp, T);                                  // u = x Wuᵀ
    ops.swiglu(s.gate, s.gate, s.up, T * this.cfg.intermediateSize);      // g = silu(g) · u
    ops.matmul(s.proj, s.gate, this.wDown, T);                            // out = g Wdᵀ
  }
}

/** One pre-norm decoder layer: x += attn(norm(x)); x += mlp(norm(x)). */
export class LlamaDecoderLayer {
  private constructor(
    private readonly ops: Backend,
    private readonly cfg: LlamaConfig,
    private readonly index: number,
    private readonly inputNorm: F32Tensor,    // [hidden]
    private readonly attention: LlamaAttention,
    private readonly postAttnNorm: F32Tensor, // [hidden]
    private readonly mlp: LlamaMlp,
  ) {}

  /** Layer `index`'s norms, attention and MLP weights. */
  static weights(index: number, cfg: LlamaConfig): WeightSpecs<DecoderLayerKey> {
    const p = `model.layers.${index}`;
    return {
      inputNorm: { name: `${p}.input_layernorm.weight`, shape: [cfg.hiddenSize] },
      ...LlamaAttention.weights(`${p}.self_attn`, cfg),
      postAttnNorm: { name: `${p}.post_attention_layernorm.weight`, shape: [cfg.hiddenSize] },
      ...LlamaMlp.weights(`${p}.mlp`, cfg),
    };
  }

  /** Layer `index` over its loaded weights. */
  static load(w: Weights<DecoderLayerKey>, index: number, cfg: LlamaConfig, ops: Backend): LlamaDecoderLayer {
    return new LlamaDecoderLayer(ops, cfg, index, w.inputNorm, LlamaAttention.load(w, cfg, ops), w.postAttnNorm, LlamaMlp.load(w, cfg, ops));
  }

  /** Update the residual stream s.x[T, hidden] in place, extending this layer's cache entries. */
  forward(s: LlamaScratch, cache: KvCache, rope: RotaryTables, start: number, T: number): void {
    const { ops } = this;
    const n = T * this.cfg.hiddenSize;
    const eps = this.cfg.rmsNormEps;
    ops.rmsnorm(s.xb, s.x, this.inputNorm, T, eps);                       // xb = norm(x)
    this.attention.forward(s, cache, this.index, rope, start, T);         // proj = attn(xb)
    ops.add(s.x, s.x, s.proj, n);                                         // x += proj
    ops.rmsnorm(s.xb, s.x, this.postAttnNorm, T, eps);                    // xb = norm(x)
    this.mlp.forward(s, T);                                               // proj = mlp(xb)
    ops.add(s.x, s.x, s.proj, n);                                         // x += proj
  }
}
