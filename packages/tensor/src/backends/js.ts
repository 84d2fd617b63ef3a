/**
 * The plain-JS reference backend: straightforward loops, float64 accumulation, no allocation.
 * Every other backend is tested against this one.
 */
import type { AttentionShape, Backend, Op } from "../backend.js";
import type { F32Tensor } from "../tensor.js";

/** out[T, N] = x[T, K] · wᵀ, w: [N, K]. Four rows of x share each pass over a weight row. */
function matmul(out: Float32Array, x: Float32Array, w: F32Tensor, T: number): void {
  const [N, K] = w.shape;
  const wd = w.data;
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = t * K, x1 = x0 + K, x2 = x1 + K, x3 = x2 + K;
    const o0 = t * N, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const wk = wd[wo + k];
        s0 += x[x0 + k] * wk;
        s1 += x[x1 + k] * wk;
        s2 += x[x2 + k] * wk;
        s3 += x[x3 + k] * wk;
      }
      out[o0 + n] = s0; out[o1 + n] = s1; out[o2 + n] = s2; out[o3 + n] = s3;
    }
  }
  for (; t < T; t++) {
    const xo = t * K, oo = t * N;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += x[xo + k] * wd[wo + k];
      out[oo + n] = s;
    }
  }
}

/** out[t] = x[t] / rms(x[t]) * weight for each of T rows of length D. */
function rmsnorm(out: Float32Array, x: Float32Array, weight: F32Tensor, T: number, eps: number): void {
  const D = weight.shape[0];
  const w = weight.data;
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) out[o + i] = Math.fround(x[o + i] * inv) * w[i];
  }
}

/** Rotate pairs (i, i + half) of every head of every row by the angles of position start + t. */
function rope(x: Float32Array, cos: Float32Array, sin: Float32Array, start: number, T: number, heads: number, headDim: number): void {
  const half = headDim >> 1;
  for (let t = 0; t < T; t++) {
    const p = (start + t) * half;
    for (let h = 0; h < heads; h++) {
      const o = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[p + i], s = sin[p + i];
        const a = x[o + i], b = x[o + i + half];
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}

/** x[0..n) ← exp(x - max) / Σ exp(x - max). */
function softmax(x: Float32Array, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[i] - max);
    x[i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) x[i] *= inv;
}

/** out[i] = gate[i] · sigmoid(gate[i]) · up[i]. */
function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = Math.fround(g / (1 + Math.exp(-g))) * up[i];
  }
}

/** out[i] = a[i] + b[i]. */
function add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/** out[t] = table[ids[t]]. */
function embedding(out: Float32Array, table: F32Tensor, ids: ArrayLike<number>, T: number): void {
  const D = table.shape[1];
  const w = table.data;
  for (let t = 0; t < T; t++) {
    const src = ids[t] * D, dst = t * D;
    for (let i = 0; i < D; i++) out[dst + i] = w[src + i];
  }
}

/** For each new token and head: softmax(q·Kᵀ/√d over positions ≤ its own) · V. */
function attention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, scores: Float32Array, s: AttentionShape): void {
  const { tokens, heads, kvHeads, headDim: d, start, capacity } = s;
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(d);
  for (let t = 0; t < tokens; t++) {
    const len = start + t + 1;                                  // causal: positions 0 .. start + t
    for (let h = 0; h < heads; h++) {
      const qo = (t * heads + h) * d;
      const kv = Math.floor(h / group) * capacity * d;
      for (let j = 0; j < len; j++) {
        const ko = kv + j * d;
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[qo + i] * k[ko + i];
        scores[j] = dot * scale;
      }
      softmax(scores, len);
      for (let i = 0; i < d; i++) out[qo + i] = 0;
      for (let j = 0; j < len; j++) {
        const p = scores[j], vo = kv + j * d;
        for (let i = 0; i < d; i++) out[qo + i] += p * v[vo + i];
      }
    }
  }
}

/** The plain-JS reference backend; supports every op. */
export const jsBackend: Backend = {
  name: "js",
  supports: (_op: Op) => true,
  matmul, rmsnorm, rope, softmax, swiglu, add, embedding, attention,
};
