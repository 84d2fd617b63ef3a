/**
 * Every backend's kernels against straightforward loops written independently here, per-op tolerances.
 * New backends join by being added to BACKENDS.
 */
import { describe, expect, it } from "vitest";
import { OPS, type Backend } from "../../packages/tensor/src/backend.js";
import { jsBackend } from "../../packages/tensor/src/backends/js.js";
import { f32Tensor } from "../../packages/tensor/src/tensor.js";
import { randomFloats } from "./helpers.js";

const BACKENDS: Backend[] = [jsBackend];
const TOL = { matmul: 1e-5, rmsnorm: 1e-5, rope: 1e-6, softmax: 1e-7, swiglu: 1e-6, add: 0, embedding: 0, attention: 1e-5 };

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe.each(BACKENDS)("backend $name", (ops) => {
  it("supports every op", () => {
    for (const op of OPS) expect(ops.supports(op), op).toBe(true);
  });

  it.each([1, 3, 4, 7])("matmul x[T, K] · w[N, K]ᵀ with T = %i", (T) => {
    const N = 5, K = 33;
    const x = randomFloats(T * K, 1), w = f32Tensor([N, K], randomFloats(N * K, 2));
    const out = new Float32Array(T * N);
    ops.matmul(out, x, w, T);
    const ref = new Float32Array(T * N);
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[t * K + k] * w.data[n * K + k];
      ref[t * N + n] = s;
    }
    expectClose(out, ref, TOL.matmul);
  });

  it("rmsnorm, also in place", () => {
    const T = 3, D = 16, eps = 1e-5;
    const x = randomFloats(T * D, 3, 4), w = f32Tensor([D], randomFloats(D, 4));
    const ref = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      const row = x.subarray(t * D, t * D + D);
      const rms = Math.sqrt(row.reduce((a, v) => a + v * v, 0) / D + eps);
      for (let i = 0; i < D; i++) ref[t * D + i] = (row[i] / rms) * w.data[i];
    }
    const out = new Float32Array(T * D);
    ops.rmsnorm(out, x, w, T, eps);
    expectClose(out, ref, TOL.rmsnorm);
    ops.rmsnorm(x, x, w, T, eps);
    expectClose(x, ref, TOL.rmsnorm);
  });

  it("rope rotates pairs (i, i + d/2) by position × inv_freq", () => {
    const T = 3, H = 2, d = 8, half = d / 2, start = 5, P = 10;
    const inv = Array.from({ length: half }, (_, i) => 1 / 10000 ** ((2 * i) / d));
    const cos = new Float32Array(P * half), sin = new Float32Array(P * half);
    for (let p = 0; p < P; p++) for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]);
      sin[p * half + i] = Math.sin(p * inv[i]);
    }
    const x = randomFloats(T * H * d, 5);
    const ref = new Float32Array(x.length);
    for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
      const o = (t * H + h) * d;
      // rotate_half: out = x·cos + [-x2, x1]·sin, with cos/sin repeated over both halves
      for (let i = 0; i < d; i++) {
        const j = i % half, angle = (start + t) * inv[j];
        const rotated = i < half ? -x[o + i + half] : x[o + i - half];
        ref[o + i] = x[o + i] * Math.cos(angle) + rotated * Math.sin(angle);
      }
    }
    ops.rope(x, cos, sin, start, T, H, d);
    expectClose(x, ref, TOL.rope);
  });

  it("softmax over a prefix, stable for large inputs", () => {
    const x = Float32Array.of(1000, 1001, 999, 5, 5);
    ops.softmax(x, 3);
    const e = [Math.exp(-1), 1, Math.exp(-2)], z = e[0] + e[1] + e[2];
    expectClose(x, [e[0] / z, e[1] / z, e[2] / z, 5, 5], TOL.softmax);
  });

  it("swiglu, add and embedding", () => {
    const n = 20;
    const g = randomFloats(n, 6, 5), u = randomFloats(n, 7);
    const out = new Float32Array(n);
    ops.swiglu(out, g, u, n);
    expectClose(out, Array.from(g, (v, i) => (v / (1 + Math.exp(-v))) * u[i]), TOL.swiglu);
    ops.add(out, g, u, n);
    expectClose(out, Array.from(g, (v, i) => Math.fround(v + u[i])), TOL.add);
    const table = f32Tensor([5, 3], Float32Array.from({ length: 15 }, (_, i) => i));
    const e = new Float32Array(9);
    ops.embedding(e, table, [4, 0, 2], 3);
    expect([...e]).toEqual([12, 13, 14, 0, 1, 2, 6, 7, 8]);
  });

  it("causal GQA attention over a cache", () => {
    const T = 3, H = 4, KV = 2, d = 8, start = 2, cap = 7;
    const q = randomFloats(T * H * d, 8), k = randomFloats(KV * cap * d, 9), v = randomFloats(KV * cap * d, 10);
    const out = new Float32Array(T * H * d), scores = new Float32Array(cap);
    ops.attention(out, q, k, v, scores, { tokens: T, heads: H, kvHeads: KV, headDim: d, start, capacity: cap });
    const ref = new Float32Array(T * H * d);
    for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      const s: number[] = [];
      for (let j = 0; j < cap; j++) {                   // full row, then mask the future with -inf
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[(t * H + h) * d + i] * k[(g * cap + j) * d + i];
        s.push(j <= start + t ? dot / Math.sqrt(d) : -Infinity);
      }
      const m = Math.max(...s), e = s.map((x) => Math.exp(x - m)), z = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let j = 0; j < cap; j++) acc += (e[j] / z) * v[(g * cap + j) * d + i];
        ref[(t * H + h) * d + i] = acc;
      }
    }
    expectClose(out, ref, TOL.attention);
  });
});
