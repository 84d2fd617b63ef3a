/**
 * The sizes a decoder-only transformer's blocks are built from, and the activation buffers of one forward pass,
 * allocated once per model in the kernels' memory.
 */
import type { Buffer, Kernels } from "@actorlm/tensor";

/** The shape every decoder here shares: what the blocks, the buffers and the KV pool are sized by. */
export interface DecoderDims {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** Width of the MLP's hidden layer. */
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Key/value heads (grouped-query attention); numHeads for plain multi-head attention. */
  readonly numKvHeads: number;
  /** Width of one head (independent of hiddenSize / numHeads in Qwen3 and Gemma 3). */
  readonly headDim: number;
  readonly maxPositionEmbeddings: number;
}

/** Activation buffers in the kernels' memory for up to `rows` rows (tokens) per forward, allocated once. */
export class DecoderBuffers {
  readonly x: Buffer;      // [R, hidden]         residual stream
  readonly xb: Buffer;     // [R, hidden]         normalized input of a block
  readonly proj: Buffer;   // [R, hidden]         output of a block (o_proj / down_proj)
  readonly q: Buffer;      // [R, heads·headDim]
  readonly k: Buffer;      // [R, kvHeads·headDim]
  readonly v: Buffer;      // [R, kvHeads·headDim]
  readonly att: Buffer;    // [R, heads·headDim]  attention output before o_proj
  readonly gate: Buffer;   // [R, intermediate]   MLP hidden layer (the gate of a gated MLP)
  readonly up: Buffer;     // [R, intermediate]
  readonly out: Buffer;    // [outputs, hidden]   rows whose logits are wanted
  readonly logits: Buffer; // [outputs, vocab]

  /** Bytes of every buffer for `rows` rows and `outputs` logit rows. */
  static bytes(c: DecoderDims, rows: number, outputs: number): number {
    const qDim = c.numHeads * c.headDim, kvDim = c.numKvHeads * c.headDim;
    return 4 * (rows * (3 * c.hiddenSize + 2 * qDim + 2 * kvDim + 2 * c.intermediateSize) + outputs * (c.hiddenSize + c.vocabSize));
  }

  /** Allocates every buffer for `rows` rows and `outputs` logit rows. */
  constructor(ops: Kernels, c: DecoderDims, rows: number, outputs: number) {
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
