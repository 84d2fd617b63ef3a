/**
 * The blocks of a Llama decoder: attention, MLP, decoder layer. Each has `weights` (the only place HF tensor
 * names appear: the weights it needs and their shapes), `load` (the block over those weights, loaded) and
 * `forward` (kernel calls on the model's buffers, reading like the math). The kernels decide where it runs.
 */
import type { Activation, Batch, Buffer, KvCache, Kernels, Weight } from "@actorlm/tensor";
import type { LlamaConfig } from "../config.js";
import type { WeightSpecs, Weights } from "../weights.js";

type AttentionKey = "wq" | "wk" | "wv" | "wo";
type MlpKey = "wGate" | "wUp" | "wDown";
/** The keys of every weight one decoder layer loads. */
export type DecoderLayerKey = "inputNorm" | "postAttnNorm" | AttentionKey | MlpKey;

/**
 * What an architecture built from these blocks changes in them (BitNet b1.58: squared ReLU, and an RMSNorm of the
 * attention output before o_proj and of the gated product before down_proj). Absent fields keep the Llama's.
 */
export interface BlockVariant {
  /** The MLP's gate activation (default silu). */
  readonly act?: Activation;
  /** RMSNorm weight [heads·headDim] applied to the attention output before o_proj. */
  readonly attnSubNorm?: Weight;
  /** RMSNorm weight [intermediate] applied to act(gate) · up before down_proj. */
  readonly ffnSubNorm?: Weight;
}

/** Activation buffers in the kernels' memory for up to `rows` rows (tokens) per forward, allocated once. */
export class LlamaBuffers {
  readonly x: Buffer;      // [R, hidden]         residual stream
  readonly xb: Buffer;     // [R, hidden]         normalized input of a block
  readonly proj: Buffer;   // [R, hidden]         output of o_proj / down_proj
  readonly q: Buffer;      // [R, heads·headDim]
  readonly k: Buffer;      // [R, kvHeads·headDim]
  readonly v: Buffer;      // [R, kvHeads·headDim]
  readonly att: Buffer;    // [R, heads·headDim]  attention output before o_proj
  readonly gate: Buffer;   // [R, intermediate]
  readonly up: Buffer;     // [R, intermediate]
  readonly out: Buffer;    // [outputs, hidden]   rows whose logits are wanted
  readonly logits: Buffer; // [outputs, vocab]

  /** Bytes of every buffer for `rows` rows and `outputs` logit rows. */
  static bytes(c: LlamaConfig, rows: number, outputs: number): number {
    const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    return 4 * (rows * (3 * c.hiddenSize + 2 * qDim + 2 * kvDim + 2 * c.intermediateSize) + outputs * (c.hiddenSize + c.vocabSize));
  }

  /** Allocates every buffer for `rows` rows and `outputs` logit rows. */
  constructor(ops: Kernels, c: LlamaConfig, rows: number, outputs: number) {
    const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    this.x = ops.buffer(rows * c.hiddenSize);
    this.xb = ops.buffer(rows * c.hiddenSize);
    this.proj = ops.buffer(rows * c.hiddenSize);
    this.q = ops.buffer(rows * qDim);
    this.k = ops.buffer(rows * kvDim);
    this.v = ops.buffer(rows * kvDim);
    this.att = ops.buffer(rows * qDim);
    this.gate = ops.buffer(rows * c.intermediateSize);
    this.up = ops.buffer(rows * c.intermediateSize);
    this.out = ops.buffer(outputs * c.hiddenSize);
    this.logits = ops.buffer(outputs * c.vocabSize);
  }
}

/** Rotary tables in the kernels' memory: cos and sin, [positions, headDim/2]. */
export interface RopeTables {
  readonly cos: Weight;
  readonly sin: Weight;
}

/** Grouped-query self-attention with rotary positions over the paged KV cache. */
export class LlamaAttention {
  private constructor(
    private readonly ops: Kernels,
    private readonly cfg: LlamaConfig,
    private readonly wq: Weight, // [heads·headDim, hidden]
    private readonly wk: Weight, // [kvHeads·headDim, hidden]
    private readonly wv: Weight, // [kvHeads·headDim, hidden]
    private readonly wo: Weight, // [hidden, heads·headDim]
    private readonly subNorm?: Weight, // [heads·headDim] (BitNet)
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

  /** The block over its loaded weights (with `subNorm`, the attention output is RMS-normalized before o_proj). */
  static load(w: Weights<AttentionKey>, cfg: LlamaConfig, ops: Kernels, subNorm?: Weight): LlamaAttention {
    return new LlamaAttention(ops, cfg, w.wq, w.wk, w.wv, w.wo, subNorm);
  }

  /** s.proj = attention of s.xb over layer `layer` of the cache, which it extends with the batch's keys and values. */
  forward(s: LlamaBuffers, batch: Batch, cache: KvCache, layer: number, rope: RopeTables): void {
    const { ops } = this;
    const { numHeads: heads, numKvHeads: kvHeads, headDim } = this.cfg;
    const R = batch.rows;
    ops.matmul(s.q, s.xb, this.wq, R);                                     // q = x Wqᵀ
    ops.matmul(s.k, s.xb, this.wk, R);                                     // k = x Wkᵀ
    ops.matmul(s.v, s.xb, this.wv, R);                                     // v = x Wvᵀ
    ops.rope(s.q, rope.cos, rope.sin, batch, heads, headDim, headDim);     // rotate q, k by position
    ops.rope(s.k, rope.cos, rope.sin, batch, kvHeads, headDim, headDim);
    ops.kvWrite(cache, layer, s.k, s.v, batch);                            // append k, v to the cache
    ops.attention(s.att, s.q, cache, layer, batch,                         // softmax(q kᵀ/√d, causal) v
      { heads, kvHeads, headDim, scale: 1 / Math.sqrt(headDim) });
    if (this.subNorm) ops.rmsnorm(s.att, s.att, this.subNorm, R, this.cfg.rmsNormEps); // att = norm(att) (BitNet)
    ops.matmul(s.proj, s.att, this.wo, R);                                 // out = att Woᵀ
  }
}

/** The gated feed-forward block: down(act(gate(x)) · up(x)), act = silu (SwiGLU) unless a variant says otherwise. */
export class LlamaMlp {
  private constructor(
    private readonly ops: Kernels,
    private readonly cfg: LlamaConfig,
    private readonly wGate: Weight, // [intermediate, hidden]
    private readonly wUp: Weight,   // [intermediate, hidden]
    private readonly wDown: Weight, // [hidden, intermediate]
    private readonly act: Activation,
    private readonly subNorm?: Weight, // [intermediate] (BitNet)
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

  /** The block over its loaded weights, with a variant's activation and sub-norm. */
  static load(w: Weights<MlpKey>, cfg: LlamaConfig, ops: Kernels, variant: BlockVariant = {}): LlamaMlp {
    return new LlamaMlp(ops, cfg, w.wGate, w.wUp, w.wDown, variant.act ?? "silu", variant.ffnSubNorm);
  }

  /** s.proj = MLP(s.xb) over R rows. */
  forward(s: LlamaBuffers, R: number): void {
    const { ops } = this;
    ops.matmul(s.gate, s.xb, this.wGate, R);                                   // g = x Wgᵀ
    ops.matmul(s.up, s.xb, this.wUp, R);                                       // u = x Wuᵀ
    ops.glu(s.gate, s.gate, s.up, R * this.cfg.intermediateSize, this.act);    // g = act(g) · u
    if (this.subNorm) ops.rmsnorm(s.gate, s.gate, this.subNorm, R, this.cfg.rmsNormEps); // g = norm(g) (BitNet)
    ops.matmul(s.proj, s.gate, this.wDown, R);                                 // out = g Wdᵀ
  }
}

/** One pre-norm decoder layer: x += attn(norm(x)); x += mlp(norm(x)). */
export class LlamaDecoderLayer {
  private constructor(
    private readonly ops: Kernels,
    private readonly cfg: LlamaConfig,
    private readonly index: number,
    private readonly inputNorm: Weight,    // [hidden]
    private readonly attention: LlamaAttention,
    private readonly postAttnNorm: Weight, // [hidden]
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

  /** Layer `index` over its loaded weights, with an architecture's variant of the blocks. */
  static load(w: Weights<DecoderLayerKey>, index: number, cfg: LlamaConfig, ops: Kernels, variant: BlockVariant = {}): LlamaDecoderLayer {
    return new LlamaDecoderLayer(
      ops, cfg, index, w.inputNorm, LlamaAttention.load(w, cfg, ops, variant.attnSubNorm), w.postAttnNorm, LlamaMlp.load(w, cfg, ops, variant),
    );
  }

  /** Updates the residual stream s.x in place for the batch's rows, extending this layer's cache entries. */
  forward(s: LlamaBuffers, batch: Batch, cache: KvCache, rope: RopeTables): void {
    const { ops } = this;
    const R = batch.rows;
    const n = R * this.cfg.hiddenSize;
    const eps = this.cfg.rmsNormEps;
    ops.rmsnorm(s.xb, s.x, this.inputNorm, R, eps);                       // xb = norm(x)
    this.attention.forward(s, batch, cache, this.index, rope);            // proj = attn(xb)
    ops.add(s.x, s.x, s.proj, n);                                         // x += proj
    ops.rmsnorm(s.xb, s.x, this.postAttnNorm, R, eps);                    // xb = norm(x)
    this.mlp.forward(s, R);                                               // proj = mlp(xb)
    ops.add(s.x, s.x, s.proj, n);                                         // x += proj
  }
}
