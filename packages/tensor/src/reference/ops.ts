/**
 * The reference kernels: straightforward loops over typed arrays, float64 accumulation, no allocation in
 * the hot loops. The `js` backend runs them on its own arrays; every other backend is tested against them.
 * Each takes views sized for exactly its operands.
 */
import {
  INT8_BLOCK, decodeRow, int8Row, matrixLayout, q4Row, quantizeRow, ternaryRow, ternaryScales, type MatrixBytes, type WeightFormat,
} from "../formats.js";
import type { BatchTables } from "../batch-tables.js";
import type { Activation } from "../kernels.js";

/** A stored matrix: its format, shape and storage (the tiled layout of formats.ts). */
export interface StoredMatrix {
  readonly format: WeightFormat;
  readonly N: number;
  readonly K: number;
  readonly bytes: MatrixBytes;
}

/** out[R, N] = x[R, K] · wᵀ (+ bias). */
export function matmul(out: Float32Array, x: Float32Array, w: StoredMatrix, R: number, bias?: Float32Array): void {
  const { N, K } = w;
  if (w.format === "int8" || w.format === "q4") return matmulBlocks(out, x, w, R, bias);
  if (w.format === "ternary") return matmulTernary(out, x, w, R, bias);
  const row = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    decodeInto(w, n, row);
    const b = bias === undefined ? 0 : bias[n];
    for (let r = 0; r < R; r++) {
      let s = 0;
      const xo = r * K;
      for (let k = 0; k < K; k++) s += x[xo + k] * row[k];
      out[r * N + n] = s + b;
    }
  }
}

/** int8 or q4 weights: activations quantized per row to int8, integer dot products per block, scaled in float. */
function matmulBlocks(out: Float32Array, x: Float32Array, w: StoredMatrix, R: number, bias?: Float32Array): void {
  const { N, K } = w;
  const { chunks } = matrixLayout(w.format, N, K);
  const Kp = chunks * INT8_BLOCK;
  const xq = new Int8Array(Kp), q = new Int8Array(Kp), scales = new Float32Array(chunks);
  const sx = new Float32Array(R), xqs = new Int8Array(R * Kp);
  for (let r = 0; r < R; r++) {
    sx[r] = quantizeRow(x.subarray(r * K, r * K + K), K, xq);
    xqs.set(xq, r * Kp);
  }
  for (let n = 0; n < N; n++) {
    (w.format === "q4" ? q4Row : int8Row)(w.bytes, n, N, K, q, scales);
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let b = 0; b < chunks; b++) {
        let dot = 0;
        for (let i = b * INT8_BLOCK; i < (b + 1) * INT8_BLOCK; i++) dot += xqs[r * Kp + i] * q[i];
        s += dot * scales[b];
      }
      out[r * N + n] = s * sx[r] + (bias === undefined ? 0 : bias[n]);
    }
  }
}

/**
 * Ternary weights (BitNet b1.58): activations quantized to int8 per row by absmax, exact integer dot products with
 * the values q ∈ {-1, 0, 1}, then out = dot · s_x · scale (+ bias).
 */
function matmulTernary(out: Float32Array, x: Float32Array, w: StoredMatrix, R: number, bias?: Float32Array): void {
  const { N, K } = w;
  const Kp = matrixLayout("ternary", N, K).chunks * 64;
  const { scale } = ternaryScales(w.bytes, N, K);
  const xq = new Int8Array(R * Kp), sx = new Float32Array(R), q = new Int8Array(Kp);
  for (let r = 0; r < R; r++) sx[r] = quantizeRow(x.subarray(r * K, r * K + K), K, xq.subarray(r * Kp, (r + 1) * Kp));
  for (let n = 0; n < N; n++) {
    ternaryRow(w.bytes, n, N, K, q);
    for (let r = 0; r < R; r++) {
      let dot = 0;
      for (let k = 0, o = r * Kp; k < K; k++) dot += xq[o + k] * q[k];
      out[r * N + n] = dot * sx[r] * scale + (bias === undefined ? 0 : bias[n]);
    }
  }
}

/** Row `n` of a stored matrix as float32. */
export function decodeInto(w: StoredMatrix, n: number, out: Float32Array): void {
  decodeRow(w.format, w.bytes, n, w.N, w.K, out);
}

/** out[r] = table row of token r. */
export function embed(out: Float32Array, table: StoredMatrix, b: BatchTables): void {
  const D = table.K;
  for (let r = 0; r < b.rows; r++) decodeInto(table, b.tokens[r], out.subarray(r * D, r * D + D));
}

/** out[r] = x[r] / rms(x[r]) · w over rows of length D. */
export function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, R: number, eps: number): void {
  const D = w.length;
  for (let r = 0; r < R; r++) {
    const o = r * D;
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) out[o + i] = Math.fround(x[o + i] * inv) * w[i];
  }
}

/** out[r] = (x[r] − mean) / √(var + eps) · w + b over rows of length D. */
export function layernorm(out: Float32Array, x: Float32Array, w: Float32Array, bias: Float32Array, R: number, eps: number): void {
  const D = w.length;
  for (let r = 0; r < R; r++) {
    const o = r * D;
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[o + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[o + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) out[o + i] = Math.fround((x[o + i] - mean) * inv) * w[i] + bias[i];
  }
}

/** Rotate pairs (i, i + rot/2), i < rot/2, of every head of every row by its position's angles. */
export function rope(x: Float32Array, cos: Float32Array, sin: Float32Array, b: BatchTables, heads: number, headDim: number, rot: number): void {
  const half = rot >> 1;
  for (let r = 0; r < b.rows; r++) {
    const p = b.positions[r] * half;
    for (let h = 0; h < heads; h++) {
      const o = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[p + i], s = sin[p + i];
        const a = x[o + i], e = x[o + i + half];
        x[o + i] = a * c - e * s;
        x[o + i + half] = e * c + a * s;
      }
    }
  }
}

/** Geometry of a paged KV pool: offsets of a (layer, block, head, position-in-block) in the K or V array. */
export interface KvGeometry {
  readonly kvHeads: number;
  readonly headDim: number;
  readonly blockSize: number;
  readonly blocks: number;
}

/** Element offset of (layer, slot, head) in a pool laid out [layer][block][head][blockSize][headDim]. */
export function kvOffset(g: KvGeometry, layer: number, slot: number, head: number): number {
  const block = Math.floor(slot / g.blockSize), at = slot % g.blockSize;
  return (((layer * g.blocks + block) * g.kvHeads + head) * g.blockSize + at) * g.headDim;
}

/** Store rows of k, v ([R, kvHeads, headDim]) at their slots. */
export function kvWrite(K: Float32Array, V: Float32Array, g: KvGeometry, layer: number, k: Float32Array, v: Float32Array, b: BatchTables): void {
  const d = g.headDim;
  for (let r = 0; r < b.rows; r++) {
    for (let h = 0; h < g.kvHeads; h++) {
      const dst = kvOffset(g, layer, b.slots[r], h), src = (r * g.kvHeads + h) * d;
      K.set(k.subarray(src, src + d), dst);
      V.set(v.subarray(src, src + d), dst);
    }
  }
}

/** Causal paged attention, one row and head at a time (scores in float64). */
export function attention(
  out: Float32Array, q: Float32Array, K: Float32Array, V: Float32Array, g: KvGeometry, layer: number, b: BatchTables,
  heads: number, kvHeads: number, d: number, scale: number, window: number, softcap: number,
): void {
  const group = heads / kvHeads;
  const scores = new Float64Array(maxPosition(b) + 1);
  for (let r = 0; r < b.rows; r++) {
    const p = b.positions[r];
    const seq = b.seqOf[r];
    const tableAt = b.sequences[seq * 4 + 2];
    const from = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < heads; h++) {
      const qo = (r * heads + h) * d;
      const kvh = Math.floor(h / group);
      let max = -Infinity;
      for (let j = from; j <= p; j++) {
        const ko = kvOffset(g, layer, slotOf(b, tableAt, j, g.blockSize), kvh);
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[qo + i] * K[ko + i];
        let s = dot * scale;
        if (softcap > 0) s = softcap * Math.tanh(s / softcap);
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = from; j <= p; j++) sum += (scores[j] = Math.exp(scores[j] - max));
      for (let i = 0; i < d; i++) out[qo + i] = 0;
      for (let j = from; j <= p; j++) {
        const pj = scores[j] / sum;
        const vo = kvOffset(g, layer, slotOf(b, tableAt, j, g.blockSize), kvh);
        for (let i = 0; i < d; i++) out[qo + i] += pj * V[vo + i];
      }
    }
  }
}

function slotOf(b: BatchTables, tableAt: number, position: number, blockSize: number): number {
  return b.blockTables[tableAt + Math.floor(position / blockSize)] * blockSize + (position % blockSize);
}

function maxPosition(b: BatchTables): number {
  let m = 0;
  for (let r = 0; r < b.rows; r++) m = Math.max(m, b.positions[r]);
  return m;
}

/** act(x) in float64. */
export function activate(x: number, act: Activation): number {
  switch (act) {
    case "silu":
      return x / (1 + Math.exp(-x));
    case "gelu_tanh":
      return 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case "relu2":
      return x > 0 ? x * x : 0;
  }
}

/** out[i] = act(gate[i]) · up[i]. */
export function glu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number, act: Activation): void {
  for (let i = 0; i < n; i++) out[i] = Math.fround(activate(gate[i], act)) * up[i];
}

/** out[i] = act(x[i]). */
export function activation(out: Float32Array, x: Float32Array, n: number, act: Activation): void {
  for (let i = 0; i < n; i++) out[i] = activate(x[i], act);
}

/** out[i] = a[i] + b[i]. */
export function add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/** out[i] = x[i] · s. */
export function scale(out: Float32Array, x: Float32Array, s: number, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i] * s;
}

/** out[i] = cap · tanh(x[i] / cap). */
export function softcap(out: Float32Array, x: Float32Array, cap: number, n: number): void {
  for (let i = 0; i < n; i++) out[i] = cap * Math.tanh(x[i] / cap);
}

/** out[j] = x[outputRows[j]] for rows of `width`. */
export function gather(out: Float32Array, x: Float32Array, b: BatchTables, width: number): void {
  for (let j = 0; j < b.outputRows.length; j++) {
    const src = b.outputRows[j] * width;
    out.set(x.subarray(src, src + width), j * width);
  }
}

/** x[r] += table[positions[r]] for rows of `width` (table: [positions, width], flat). */
export function addPositions(x: Float32Array, table: Float32Array, b: BatchTables, width: number): void {
  for (let r = 0; r < b.rows; r++) {
    const o = r * width, p = b.positions[r] * width;
    for (let i = 0; i < width; i++) x[o + i] += table[p + i];
  }
}
