/**
 * The ternary storage format (BitNet b1.58): its layout (2 bits per weight, lane i field f = value 8f + i, one
 * scale per matrix), ternarization of float weights (scale = mean |w|, q = clamp(round(w / scale), -1, 1), ties to
 * even), the reference matmul's integer semantics written out independently, ternary sources and their refusals on
 * every backend, and the relaxed-SIMD build's kernels (in a child process with the flags this Node.js needs).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import {
  JsKernels, TERNARY_CHUNK, WasmKernels, decodeRow, encodeRows, encodeTernaryRows, matrixLayout, matrixViews, quantizeRow, setTernaryScale,
  ternaryRow, ternaryScales, ternaryScalesOf, type Kernels,
} from "@actorlm/tensor";
import { randomFloats, tempDir, writeTo } from "./helpers.js";

/** An empty ternary [N, K] matrix's storage. */
function storage(N: number, K: number) {
  const { bytes } = matrixLayout("ternary", N, K);
  return matrixViews(new ArrayBuffer(bytes), 0, bytes);
}

describe("ternary format", () => {
  it("takes 2 bits per weight: 64 bytes per tile of 4 rows and chunk of 64 values, plus a 16-byte trailer", () => {
    expect(matrixLayout("ternary", 576, 1536)).toMatchObject({ chunk: TERNARY_CHUNK, chunks: 24, tiles: 144, groupBytes: 64, bytes: 144 * 24 * 64 + 16 });
    expect((8 * matrixLayout("ternary", 576, 1536).bytes) / (576 * 1536)).toBeLessThan(2.001);
    expect(matrixLayout("ternary", 5, 65)).toMatchObject({ chunks: 2, tiles: 2, bytes: 2 * 2 * 64 + 16 });
  });

  it("lays value 8f + i of a row's chunk in bits 2f, 2f + 1 of the piece's u16 lane i, as q + 1", () => {
    const N = 4, K = 64;
    const q = new Int8Array(N * K);
    q[1 * K + 8 * 3 + 5] = 1;                     // row 1, value 29: lane 5, field 3
    q[2 * K + 63] = -1;                           // row 2, value 63: lane 7, field 7
    const st = storage(N, K);
    encodeTernaryRows(q, N, N, K, st);
    const lane = (row: number, i: number) => st.u16[row * 8 + i];
    expect(lane(0, 0)).toBe(0x5555);              // all zeros: every field holds 1
    expect(lane(1, 5)).toBe(0x5555 + (1 << 6));   // field 3 holds 2
    expect(lane(2, 7)).toBe(0x5555 - (1 << 14));  // field 7 holds 0
  });

  it("ternarizes float weights as BitNet b1.58 does: scale mean |w|, q = clamp(round(w / scale)), ties to even", () => {
    const w = Float32Array.of(0.5, -0.5, 1.5, 0.25, -2, 0, 0.75, -0.25);   // mean |w| = 0.71875
    const { scale, inverse } = ternaryScalesOf(5.75 / 8);
    expect(scale).toBeCloseTo(0.71875, 6);
    const st = storage(1, 8);
    setTernaryScale(st, 1, 8, { scale, inverse });
    encodeRows("ternary", w, 1, 1, 8, st);
    const q = new Int8Array(TERNARY_CHUNK);
    ternaryRow(st, 0, 1, 8, q);
    // 0.5 / 0.71875 = 0.696 → 1; 0.25 → 0.348 → 0; 1.5 → 2.09 → clamped 1; 0.75 → 1.04 → 1
    expect([...q.subarray(0, 8)]).toEqual([1, -1, 1, 0, -1, 0, 1, 0]);
    expect(ternaryScales(st, 1, 8)).toEqual({ scale, inverse });
    const row = new Float32Array(8);
    decodeRow("ternary", st, 0, 1, 8, row);
    expect([...row]).toEqual([...q.subarray(0, 8)].map((v) => Math.fround(v * scale)));
    // a tie rounds to even: w · inverse = 0.5 exactly → 0
    const tie = storage(1, 2);
    setTernaryScale(tie, 1, 2, { scale: 2, inverse: 0.5 });
    encodeRows("ternary", Float32Array.of(1, -3), 1, 1, 2, tie);
    ternaryRow(tie, 0, 1, 2, q);
    expect([...q.subarray(0, 2)]).toEqual([0, -1]);                    // −1.5 → −2 → clamped −1
    expect(ternaryScalesOf(0).inverse).toBeCloseTo(1e5, 0);           // mean clamped at 1e-5, as transformers does
  });

  it("the reference matmul is int8 activations (absmax per row) · ternary values, summed exactly, times both scales", () => {
    const ops = new JsKernels();
    const R = 3, N = 7, K = 131;
    const xs = randomFloats(R * K, 5, 4), ws = randomFloats(N * K, 6, 0.3);
    const w = ops.weight([N, K], "ternary", ws);
    const x = ops.buffer(R * K), out = ops.buffer(R * N);
    ops.write(x, xs);
    ops.matmul(out, x, w, R);
    // independently: the mean |w|, q by the stated formula, x_q = clamp(round(x · 127 / max|x|)), integer dots
    let sumAbs = 0;
    for (const v of ws) sumAbs += Math.abs(v);
    const mean = Math.fround(sumAbs / (N * K)), inv = Math.fround(1 / mean);
    const round = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    const got = ops.read(out);
    for (let r = 0; r < R; r++) {
      const row = xs.subarray(r * K, (r + 1) * K);
      const amax = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const xq = Array.from(row, (v) => Math.max(-128, Math.min(127, round(Math.fround(v * Math.fround(127 / amax))))));
      for (let n = 0; n < N; n++) {
        let dot = 0;
        for (let k = 0; k < K; k++) dot += xq[k] * Math.max(-1, Math.min(1, round(Math.fround(ws[n * K + k] * inv))));
        const want = dot * Math.fround(amax / 127) * Math.fround(1 / inv);
        expect(Math.abs(got[r * N + n] - want)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want)));
      }
    }
    const q = new Int8Array(K);
    quantizeRow(xs.subarray(0, K), K, q);
    expect(Math.max(...q.map(Math.abs))).toBe(127);
  });
});

const BACKENDS: [string, () => Promise<Kernels>][] = [
  ["js", async () => new JsKernels()],
  ["wasm", () => WasmKernels.create({ threads: 2 })],
];

describe.each(BACKENDS)("ternary sources on %s", (_, make) => {
  it("refuses a value outside {-1, 0, 1}, naming its row and column; a bad scale; another format", async () => {
    const k = await make();
    try {
      const q = new Int8Array(6 * 70);
      q[4 * 70 + 9] = 2;
      const source = (scale: number) => ({ type: "ternary" as const, scale, read: (from: number, to: number, into: Int8Array) => into.set(q.subarray(from * 70, to * 70)) });
      expect(() => k.weight([6, 70], "ternary", source(0.5))).toThrow(/value 2 at row 4, column 9/);
      q[4 * 70 + 9] = 0;
      for (const scale of [0, -1, NaN, Infinity]) expect(() => k.weight([6, 70], "ternary", source(scale))).toThrow(RangeError);
      expect(() => k.weight([6, 70], "int8", source(0.5))).toThrow(/only as a ternary matrix/);
      expect(k.weight([6, 70], "ternary", source(0.5)).bytes).toBe(matrixLayout("ternary", 6, 70).bytes);
    } finally {
      await k.dispose();
    }
  });
});

describe("relaxed-SIMD build", () => {
  // Node.js 20 validates relaxed SIMD only behind a flag, and its baseline compiler (Liftoff) gets
  // i32x4.relaxed_dot_i8x16_i7x16_add_s wrong there: the check runs optimized code only on Node.js 20.
  const major = Number(process.versions.node.split(".")[0]);
  const flags = major < 22 ? ["--experimental-wasm-relaxed-simd", "--no-liftoff"] : [];
  const script = `
    import { JsKernels, WasmKernels } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, "../../packages/tensor/dist/index.js")).href)};
    const rnd = (n, seed) => { let s = seed; return Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) >>> 0; return (s / 2 ** 32) * 2 - 1; }); };
    const wasm = await WasmKernels.create({ threads: 2, simd: "relaxed" }), js = new JsKernels();
    let worst = 0;
    for (const [R, N, K] of [[1, 37, 200], [2, 6, 70], [7, 13, 1000], [3, 1, 3]]) {
      const xs = rnd(R * K, R + K), ws = rnd(N * K, N);
      const [a, b] = [wasm, js].map((k) => { const w = k.weight([N, K], "ternary", ws), x = k.buffer(R * K), o = k.buffer(R * N); k.write(x, xs); k.matmul(o, x, w, R); return k.read(o); });
      a.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - b[i]) / Math.max(1, Math.abs(b[i]))); });
    }
    console.log(JSON.stringify({ simd: wasm.simd, worst }));
    await wasm.dispose();`;

  it("runs the ternary kernels with i32x4.relaxed_dot_i8x16_i7x16_add_s, as the reference", () => {
    const run = spawnSync(process.execPath, [...flags, writeTo(tempDir(), "relaxed.mjs", script)], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const { simd, worst } = JSON.parse(run.stdout) as { simd: string; worst: number };
    expect(simd).toBe("relaxed");
    expect(worst).toBeLessThan(2e-5);
  });
});
