/**
 * The plain-JS reference kernels against straightforward loops written independently here, and the storage
 * formats' conversions. Every other backend is then tested against the reference (kernels-parity.test.ts).
 */
import { describe, expect, it } from "vitest";
import {
  INT8_BLOCK, JsKernels, decodeRow, encodeRows, f32ToBf16Bits, f32ToF16Bits, f16BitsToF32, bf16BitsToF32, matrixLayout,
  quantizeRow, roundHalfEven, type WeightFormat,
} from "@actorlm/tensor";
import { randomFloats } from "./helpers.js";

function worstDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

const rowsOf = (data: Float32Array, K: number) => (from: number, to: number) => data.subarray(from * K, to * K);

describe("storage formats", () => {
  it("rounds half to even, as torch.round and wasm's nearest do", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
  });

  it("encodes float16 and bfloat16 to the nearest value, ties to even", () => {
    for (const x of [0, -0, 1, -2.5, 65504, 1e-7, 6.1e-5, 3.14159, 1 / 3, -1234.567]) {
      const h = f16BitsToF32(f32ToF16Bits(x));
      const step = Math.abs(x) < 2 ** -14 ? 2 ** -24 : 2 ** (Math.floor(Math.log2(Math.abs(x))) - 10);
      expect(Math.abs(h - x)).toBeLessThanOrEqual(step / 2);
      const b = bf16BitsToF32(f32ToBf16Bits(x));
      const bstep = x === 0 ? 0 : 2 ** (Math.floor(Math.log2(Math.abs(x))) - 7);
      expect(Math.abs(b - x)).toBeLessThanOrEqual(bstep / 2);
    }
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);                        // overflow → inf
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);               // tie → even mantissa
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
  });

  it("int8 blocks hold max|w| / 127 and decode within half a step", () => {
    const K = 70, N = 3;
    const w = randomFloats(N * K, 11, 2);
    const layout = matrixLayout("int8", N, K);
    expect(layout.stride).toBe(Math.ceil(K / INT8_BLOCK) * INT8_BLOCK);
    const store = { data: new Int8Array(layout.dataBytes), scales: new Float32Array(layout.scales) };
    encodeRows("int8", w, N, K, store);
    const row = new Float32Array(K);
    for (let n = 0; n < N; n++) {
      decodeRow("int8", store, n, K, row);
      for (let k = 0; k < K; k++) {
        const scale = store.scales[(n * layout.stride + k) / INT8_BLOCK | 0];
        expect(Math.abs(row[k] - w[n * K + k])).toBeLessThanOrEqual(scale / 2 + 1e-7);
      }
    }
    expect(store.data[layout.stride - 1]).toBe(0);                  // padding past K is zero
  });

  it("quantizes activation rows to ±127 by absmax", () => {
    const x = Float32Array.of(0.5, -2, 1, 0.01);
    const q = new Int8Array(8);
    const s = quantizeRow(x, 4, q);
    expect(s).toBeCloseTo(2 / 127, 7);
    expect([...q]).toEqual([32, -127, 64, 1, 0, 0, 0, 0]);
  });
});

describe("reference kernels", () => {
  const ops = new JsKernels();

  it.each(["float32", "float16", "bfloat16", "int8"] as WeightFormat[])("matmul with %s weights, bias, odd shapes", (format) => {
    const R = 3, N = 5, K = 37;
    const xs = randomFloats(R * K, 1), ws = randomFloats(N * K, 2), bs = randomFloats(N, 3);
    const w = ops.weight([N, K], format, rowsOf(ws, K)), bias = ops.weight([N], "float32", () => bs);
    const x = ops.buffer(R * K), out = ops.buffer(R * N);
    ops.write(x, xs);
    ops.matmul(out, x, w, R, bias);
    // independent: dequantize the stored weights, quantize x for int8, then plain loops
    const wq = new Float32Array(N * K);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      const v = ws[n * K + k];
      wq[n * K + k] = format === "float16" ? f16BitsToF32(f32ToF16Bits(v)) : format === "bfloat16" ? bf16BitsToF32(f32ToBf16Bits(v)) : v;
    }
    if (format === "int8") for (let n = 0; n < N; n++) decodeRow("int8", (w as unknown as { matrix: { data: Int8Array; scales: Float32Array } }).matrix, n, K, wq.subarray(n * K, n * K + K));
    const expected = new Float32Array(R * N);
    for (let r = 0; r < R; r++) {
      let xr = xs.subarray(r * K, r * K + K);
      if (format === "int8") {
        const q = new Int8Array(K + 32);
        const s = quantizeRow(xr, K, q);
        xr = Float32Array.from(q.subarray(0, K), (v) => v * s);
      }
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += xr[k] * wq[n * K + k];
        expected[r * N + n] = s + bs[n];
      }
    }
    expect(worstDiff(ops.read(out), expected)).toBeLessThan(format === "int8" ? 1e-4 : 1e-5);
  });

  it("rmsnorm and layernorm, in place", () => {
    const R = 3, D = 19, eps = 1e-5;
    const xs = randomFloats(R * D, 3, 4), ws = randomFloats(D, 4), bs = randomFloats(D, 5);
    const w = ops.weight([D], "float32", () => ws), b = ops.weight([D], "float32", () => bs);
    const rms = new Float32Array(R * D), ln = new Float32Array(R * D);
    for (let r = 0; r < R; r++) {
      const row = xs.subarray(r * D, r * D + D);
      const ms = row.reduce((a, v) => a + v * v, 0) / D;
      const mean = row.reduce((a, v) => a + v, 0) / D;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / D;
      for (let i = 0; i < D; i++) {
        rms[r * D + i] = (row[i] / Math.sqrt(ms + eps)) * ws[i];
        ln[r * D + i] = ((row[i] - mean) / Math.sqrt(variance + eps)) * ws[i] + bs[i];
      }
    }
    const x = ops.buffer(R * D);
    ops.write(x, xs);
    ops.rmsnorm(x, x, w, R, eps);
    expect(worstDiff(ops.read(x), rms)).toBeLessThan(1e-5);
    ops.write(x, xs);
    ops.layernorm(x, x, w, b, R, eps);
    expect(worstDiff(ops.read(x), ln)).toBeLessThan(1e-5);
  });

  it("rope rotates pairs (i, i + rot/2) by position × inv_freq, partial rotary leaves the rest", () => {
    const H = 2, d = 10, rot = 6, half = rot / 2, P = 12;
    const inv = Array.from({ length: half }, (_, i) => 1 / 10000 ** ((2 * i) / rot));
    const cos = new Float32Array(P * half), sin = new Float32Array(P * half);
    for (let p = 0; p < P; p++) for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]);
      sin[p * half + i] = Math.sin(p * inv[i]);
    }
    const cache = ops.kvCache({ layers: 1, kvHeads: 1, headDim: 2, blockSize: 4, blocks: 4 });
    const batch = ops.batch(cache, [{ tokens: [1, 2], start: 5, blocks: [0, 1] }, { tokens: [3], start: 0, blocks: [2] }]);
    const xs = randomFloats(3 * H * d, 5);
    const positions = [5, 6, 0];
    const expected = new Float32Array(xs.length);
    for (let r = 0; r < 3; r++) for (let h = 0; h < H; h++) {
      const o = (r * H + h) * d;
      for (let i = 0; i < d; i++) {
        if (i >= rot) { expected[o + i] = xs[o + i]; continue; }
        const angle = positions[r] * inv[i % half];
        const rotated = i < half ? -xs[o + i + half] : xs[o + i - half];
        expected[o + i] = xs[o + i] * Math.cos(angle) + rotated * Math.sin(angle);
      }
    }
    const x = ops.buffer(xs.length);
    ops.write(x, xs);
    ops.rope(x, ops.weight([P * half], "float32", () => cos), ops.weight([P * half], "float32", () => sin), batch, H, d, rot);
    expect(worstDiff(ops.read(x), expected)).toBeLessThan(1e-6);
  });

  it("elementwise: glu (silu, gelu_tanh, relu2), activation, add, scale, softcap", () => {
    const n = 23;
    const gs = randomFloats(n, 6, 5), us = randomFloats(n, 7);
    const g = ops.buffer(n), u = ops.buffer(n), out = ops.buffer(n);
    ops.write(g, gs);
    ops.write(u, us);
    const act = {
      silu: (v: number) => v / (1 + Math.exp(-v)),
      gelu_tanh: (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
      relu2: (v: number) => Math.max(v, 0) ** 2,
    };
    for (const [name, f] of Object.entries(act) as [keyof typeof act, (v: number) => number][]) {
      ops.glu(out, g, u, n, name);
      expect(worstDiff(ops.read(out), Array.from(gs, (v, i) => f(v) * us[i]))).toBeLessThan(1e-5);
      ops.activation(out, g, n, name);
      expect(worstDiff(ops.read(out), Array.from(gs, f))).toBeLessThan(1e-5);
    }
    ops.add(out, g, u, n);
    expect(worstDiff(ops.read(out), Array.from(gs, (v, i) => Math.fround(v + us[i])))).toBe(0);
    ops.scale(out, g, 0.25, n);
    expect(worstDiff(ops.read(out), Array.from(gs, (v) => v * 0.25))).toBe(0);
    ops.softcap(out, g, 3, n);
    expect(worstDiff(ops.read(out), Array.from(gs, (v) => 3 * Math.tanh(v / 3)))).toBeLessThan(1e-6);
  });

  it("embed (any format) and gather follow the batch", () => {
    const table = Float32Array.from({ length: 15 }, (_, i) => i);
    const cache = ops.kvCache({ layers: 1, kvHeads: 1, headDim: 2, blockSize: 4, blocks: 2 });
    const batch = ops.batch(cache, [{ tokens: [4, 0], start: 0, blocks: [0], logits: "all" }, { tokens: [2], start: 0, blocks: [1] }]);
    expect(batch).toMatchObject({ rows: 3, outputs: 3 });
    for (const format of ["float32", "bfloat16", "int8"] as WeightFormat[]) {
      const out = ops.buffer(9);
      ops.embed(out, ops.weight([5, 3], format, rowsOf(table, 3)), batch);
      const got = ops.read(out);
      expect(worstDiff(got, [12, 13, 14, 0, 1, 2, 6, 7, 8])).toBeLessThan(format === "int8" ? 0.06 : 1e-6);
    }
    const x = ops.buffer(6), picked = ops.buffer(6);
    ops.write(x, Float32Array.of(1, 2, 3, 4, 5, 6));
    const last = ops.batch(cache, [{ tokens: [4, 0], start: 0, blocks: [0] }, { tokens: [2], start: 0, blocks: [1] }]);
    expect(last.outputs).toBe(2);
    ops.gather(picked, x, last, 2);
    expect([...ops.read(picked, 4)]).toEqual([3, 4, 5, 6]);
  });

  it("paged causal GQA attention with a shuffled block table and a sliding window", () => {
    const H = 4, KV = 2, d = 8, bs = 2;
    const cache = ops.kvCache({ layers: 2, kvHeads: KV, headDim: d, blockSize: bs, blocks: 6 });
    const blocks = [4, 1, 3];                                         // positions 0-1 in block 4, 2-3 in block 1, 4-5 in block 3
    const n = 5;
    const ks = randomFloats(n * KV * d, 9), vs = randomFloats(n * KV * d, 10), qs = randomFloats(n * H * d, 8);
    const prefill = ops.batch(cache, [{ tokens: [1, 2, 3, 4, 5], start: 0, blocks }]);
    const k = ops.buffer(ks.length), v = ops.buffer(vs.length), q = ops.buffer(qs.length), out = ops.buffer(qs.length);
    ops.write(k, ks);
    ops.write(v, vs);
    ops.write(q, qs);
    ops.kvWrite(cache, 1, k, v, prefill);
    for (const window of [0, 3]) {
      ops.attention(out, q, cache, 1, prefill, { heads: H, kvHeads: KV, headDim: d, scale: 1 / Math.sqrt(d), window });
      const expected = new Float32Array(qs.length);
      for (let t = 0; t < n; t++) for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KV));
        const s: number[] = [];
        for (let j = 0; j < n; j++) {                              // full row, then mask with -inf
          let dot = 0;
          for (let i = 0; i < d; i++) dot += qs[(t * H + h) * d + i] * ks[(j * KV + g) * d + i];
          const visible = j <= t && (window === 0 || j > t - window);
          s.push(visible ? dot / Math.sqrt(d) : -Infinity);
        }
        const m = Math.max(...s), e = s.map((x) => Math.exp(x - m)), z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < d; i++) {
          let acc = 0;
          for (let j = 0; j < n; j++) acc += (e[j] / z) * vs[(j * KV + g) * d + i];
          expected[(t * H + h) * d + i] = acc;
        }
      }
      expect(worstDiff(ops.read(out), expected)).toBeLessThan(1e-5);
    }
  });
});
