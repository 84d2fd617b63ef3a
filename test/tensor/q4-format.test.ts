/**
 * The q4 storage format: round-to-nearest from float weights (each value within one step d of its block, within half
 * a step unless clamped at +7), and the values of a Q4_0 block as ggml's quantizer writes it stored exactly (the same
 * scale and codes), which is what lets a Q4_0 GGUF file load as q4 without loss. Odd shapes: K not a multiple of 32,
 * N not of 4.
 */
import { describe, expect, it } from "vitest";
import { JsKernels, WasmKernels, decodeRow, dequantize, encodeRows, ggmlType, matrixBytes, matrixViews, type Kernels } from "@actorlm/tensor";
import { seededUniform } from "../seeded.js";
import { encodeTensor } from "../gguf/writer.js";

function stored(values: Float32Array, N: number, K: number): Float32Array {
  const bytes = matrixBytes("q4", N, K);
  const m = matrixViews(new ArrayBuffer(bytes), 0, bytes);
  encodeRows("q4", values, N, N, K, m);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) decodeRow("q4", m, n, N, K, out.subarray(n * K, n * K + K));
  return out;
}

describe("q4 format", () => {
  it("rounds float weights to the nearest of 16 levels per block of 32 (odd N and K)", () => {
    const random = seededUniform(4);
    for (const [N, K] of [[5, 70], [3, 33], [9, 200]]) {
      const w = Float32Array.from({ length: N * K }, () => (random() - 0.5) * (random() < 0.05 ? 4 : 1));
      const got = stored(w, N, K);
      for (let n = 0; n < N; n++) {
        for (let b = 0; b * 32 < K; b++) {
          const block = w.subarray(n * K + b * 32, n * K + Math.min(K, b * 32 + 32));
          const amax = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const step = amax / 8 * (1 + 2 ** -10);                      // the half-rounded scale
          for (let i = 0; i < block.length; i++) expect(Math.abs(got[n * K + b * 32 + i] - block[i])).toBeLessThanOrEqual(step);
        }
      }
    }
  });

  it("stores the values of Q4_0 blocks exactly", () => {
    const random = seededUniform(5);
    const N = 7, K = 96;
    const w = Float32Array.from({ length: N * K }, () => (random() - 0.5) * 0.2);
    const q40 = encodeTensor("Q4_0", w);
    const values = new Float32Array(N * K);
    dequantize(ggmlType("Q4_0"), q40, (N * K) / 32, values);
    expect(stored(values, N, K)).toEqual(values);
  });

  it("the wasm backend's encoder (run at load) stores exactly what the JS encoder does: every row embedded equal", async () => {
    const random = seededUniform(6);
    const N = 9, K = 200;
    const w = Float32Array.from({ length: N * K }, () => (random() - 0.5) * (random() < 0.05 ? 4 : 1));
    // Q4_0 values (rows of 224 cut to 200: the last block partial)
    const wide = new Float32Array(N * 224);
    dequantize(ggmlType("Q4_0"), encodeTensor("Q4_0", Float32Array.from({ length: N * 224 }, () => random() - 0.5)), (N * 224) / 32, wide);
    const q40 = new Float32Array(N * K);
    for (let n = 0; n < N; n++) q40.set(wide.subarray(n * 224, n * 224 + K), n * K);
    const rows = async (k: Kernels, values: Float32Array): Promise<Float32Array> => {
      const t = k.weight([N, K], "q4", values);
      const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 16, blocks: 1 });
      const batch = k.batch(cache, [{ tokens: Array.from({ length: N }, (_, i) => i), start: 0, blocks: [0] }]);
      const x = k.buffer(N * K);
      k.embed(x, t, batch);
      const out = k.read(x);
      await k.dispose();
      return out;
    };
    for (const values of [w, q40]) {
      const want = await rows(new JsKernels(), values);
      expect(await rows(await WasmKernels.create({ threads: 1 }), values)).toEqual(want);
      expect(want).toEqual(stored(values, N, K));
    }
  });
});
