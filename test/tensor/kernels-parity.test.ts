/**
 * Every op of every backend against the plain-JS reference, on random data of odd shapes (vector tails, K not a
 * multiple of the vector width, one row and many rows, several sequences in one batch), with per-op tolerances.
 * A backend joins by being added to BACKENDS, with the weight formats it stores. The gpu backend runs its gpu.js kernels
 * in gpu.js's cpu mode here; with ACTORLM_TEST_WEBGPU set ("hardware", or "any" to take a software adapter such as
 * lavapipe) it also runs on WebGPU, WGSL kernels and gpu.js's translations alike.
 */
import { afterAll, describe, expect, it } from "vitest";
import { GpuKernels, type AdapterChoice } from "@actorlm/gpu";
import {
  JsKernels, WasmKernels, f32ToBf16Bits, f32ToF16Bits, type Activation, type BatchSequence, type Kernels, type WeightFormat,
} from "@actorlm/tensor";
import { randomFloats } from "./helpers.js";

interface Case {
  readonly label: string;
  readonly make: () => Promise<Kernels>;
  /** Weight formats the backend stores (default: every one). */
  readonly formats?: readonly WeightFormat[];
}

const FORMATS: WeightFormat[] = ["float32", "float16", "bfloat16", "int8", "ternary", "q4"];
const GPU_FORMATS: WeightFormat[] = ["float32", "float16", "bfloat16"];
const webgpu = process.env.ACTORLM_TEST_WEBGPU as AdapterChoice | undefined;

const BACKENDS: Case[] = [
  { label: "wasm, 1 thread", make: () => WasmKernels.create({ threads: 1 }) },
  { label: "wasm, 2 threads", make: () => WasmKernels.create({ threads: 2 }) },
  { label: "wasm, 3 threads", make: () => WasmKernels.create({ threads: 3 }) },
  { label: "gpu, gpu.js cpu mode", make: () => GpuKernels.create({ mode: "cpu" }), formats: GPU_FORMATS },
  ...(webgpu === undefined ? [] : [
    { label: `gpu, WebGPU (${webgpu} adapter)`, make: () => GpuKernels.create({ adapter: webgpu }), formats: GPU_FORMATS },
    { label: `gpu, WebGPU, gpu.js kernels preferred (${webgpu} adapter)`, make: () => GpuKernels.create({ adapter: webgpu, prefer: "gpujs" }), formats: GPU_FORMATS },
  ]),
];

/** Largest |a − b| relative to max(1, |b|). */
function worst(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return w;
}

const ACTS: Activation[] = ["silu", "gelu_tanh", "relu2"];

describe.each(BACKENDS)("$label against the reference", ({ make, formats = FORMATS }) => {
  let ops: Kernels;
  const ref = new JsKernels();
  const started = make().then((k) => (ops = k));
  afterAll(async () => (await started).dispose());

  /** Runs `body` on both backends and returns [backend result, reference result]. */
  async function both(body: (k: Kernels) => Float32Array): Promise<[Float32Array, Float32Array]> {
    await started;
    return [body(ops), body(ref)];
  }

  it.each(formats)("matmul, %s weights: R ∈ {1, 2, 3, 7}, N ∈ {1, 6, 37}, K ∈ {3, 33, 70, 128, 200}, with and without bias", async (format) => {
    let seed = 1;
    for (const R of [1, 2, 3, 7]) for (const N of [1, 6, 37]) for (const K of [3, 33, 70, 128, 200]) {
      const xs = randomFloats(R * K, seed++), ws = randomFloats(N * K, seed++, 0.5), bs = randomFloats(N, seed++);
      for (const withBias of [false, true]) {
        const [got, want] = await both((k) => {
          const w = k.weight([N, K], format, ws);
          const bias = withBias ? k.weight([N], "float32", bs) : undefined;
          const x = k.buffer(R * K), out = k.buffer(R * N);
          k.write(x, xs);
          k.matmul(out, x, w, R, bias);
          return k.read(out);
        });
        // int8: activation rounding may flip at float-order boundaries (one step of 1/127 of the row's max); ternary
        // quantizes the same way as the reference and sums integers exactly, so only the final scaling rounds
        expect(worst(got, want), `R ${R} N ${N} K ${K}`).toBeLessThan(format === "int8" || format === "q4" ? 2e-3 : 2e-5);
      }
    }
  });

  it.each(formats)("matmul adding into its output (a residual add in the epilogue), %s weights: exact against a product then an add", async (format) => {
    let seed = 300;
    for (const R of [1, 3, 5, 9]) for (const N of [6, 37]) for (const K of [33, 128]) {
      const xs = randomFloats(R * K, seed++), ws = randomFloats(N * K, seed++, 0.5), bs = randomFloats(N, seed++), rs = randomFloats(R * N, seed++, 4);
      const [fused, separate] = await both((k) => {
        const w = k.weight([N, K], format, ws), bias = k.weight([N], "float32", bs);
        const x = k.buffer(R * K), out = k.buffer(R * N), product = k.buffer(R * N), sum = k.buffer(R * N);
        k.write(x, xs);
        k.write(out, rs);
        k.write(sum, rs);
        k.matmul(out, x, w, R, bias, true);
        k.matmul(product, x, w, R, bias);
        k.add(sum, sum, product, R * N);
        return Float32Array.of(...k.read(out), ...k.read(sum));
      });
      // the same bits as the product stored, then added (what batching and prefix caching need), and near the reference
      expect(Array.from(fused.subarray(0, R * N)), `R ${R} N ${N} K ${K}`).toEqual(Array.from(fused.subarray(R * N)));
      expect(worst(fused.subarray(0, R * N), separate.subarray(0, R * N)), `R ${R} N ${N} K ${K}`).toBeLessThan(format === "int8" ? 2e-3 : 2e-5);
    }
  });

  it.each(formats)("gatedMatmul (act(x·gateᵀ) ⊙ x·upᵀ in one op), %s weights: exact against matmul, matmul, glu", async (format) => {
    let seed = 400;
    for (const R of [1, 2, 5, 9]) for (const N of [6, 37]) for (const K of [33, 128]) {
      const xs = randomFloats(R * K, seed++), gs = randomFloats(N * K, seed++, 0.5), us = randomFloats(N * K, seed++, 0.5);
      for (const act of ACTS) {
        const [fused, reference] = await both((k) => {
          const gate = k.weight([N, K], format, gs), up = k.weight([N, K], format, us);
          const x = k.buffer(R * K), out = k.buffer(R * N), scratch = k.buffer(R * N), g = k.buffer(R * N), u = k.buffer(R * N);
          k.write(x, xs);
          k.gatedMatmul(out, x, gate, up, R, act, scratch);
          k.matmul(g, x, gate, R);
          k.matmul(u, x, up, R);
          k.glu(g, g, u, R * N, act);
          return Float32Array.of(...k.read(out), ...k.read(g));
        });
        const label = `R ${R} N ${N} K ${K} ${act}`;
        expect(Array.from(fused.subarray(0, R * N)), label).toEqual(Array.from(fused.subarray(R * N)));
        expect(worst(fused.subarray(0, R * N), reference.subarray(0, R * N)), label).toBeLessThan(format === "int8" ? 4e-3 : 4e-5);
      }
    }
  });

  // A product whose activations are quantized (int8, ternary) right after the rmsnorm or glu that made them: the wasm
  // backend runs both in one op; the values must be those of the two ops apart (a read in between keeps them apart).
  it.each(formats)("rmsnorm or glu, then a product of its output (%s weights): the same bits as apart", async (format) => {
    let seed = 500;
    for (const R of [1, 6]) for (const K of [40, 128]) {
      const N = 13, xs = randomFloats(R * K, seed++, 3), ws = randomFloats(N * K, seed++, 0.5), ns = randomFloats(K, seed++), us = randomFloats(R * K, seed++);
      await started;
      const run = (k: Kernels, apart: boolean): Float32Array => {
        const w = k.weight([N, K], format, ws), norm = k.weight([K], "float32", ns);
        const x = k.buffer(R * K), xb = k.buffer(R * K), u = k.buffer(R * K), out = k.buffer(2 * R * N);
        k.write(x, xs);
        k.write(u, us);
        k.rmsnorm(xb, x, norm, R, 1e-5);
        if (apart) k.read(xb);
        k.matmul(k.view(out, 0, R * N), xb, w, R);
        k.glu(xb, x, u, R * K, "silu");
        if (apart) k.read(xb);
        k.matmul(k.view(out, R * N, R * N), xb, w, R);
        return k.read(out);
      };
      run(ops, false);                                        // (the first run may grow working memory, which runs what was recorded)
      const together = run(ops, false), apart = run(ops, true), reference = run(ref, true);
      expect(Array.from(together), `R ${R} K ${K}`).toEqual(Array.from(apart));
      expect(worst(together, reference), `R ${R} K ${K}`).toBeLessThan(format === "int8" ? 2e-3 : 2e-5);
    }
  });

  // The wasm kernels switch to register tiles that widen each weight tile once into per-thread scratch from 4 rows on
  // (2 rows × 4 outputs at a time, then an odd last row): row counts around that switch and not multiples of the tile,
  // output counts that end mid-tile, K ending mid-chunk of every format (4 float32, 8 half, 32 int8, 64 ternary).
  it.each(formats)("matmul, %s weights, around the register tiles: R ∈ {4, 5, 6, 8, 11}, N ∈ {4, 5, 11}, K ∈ {4, 7, 9, 31, 33, 65}", async (format) => {
    let seed = 500;
    for (const R of [4, 5, 6, 8, 11]) for (const N of [4, 5, 11]) for (const K of [4, 7, 9, 31, 33, 65]) {
      const xs = randomFloats(R * K, seed++), ws = randomFloats(N * K, seed++, 0.5), bs = randomFloats(N, seed++);
      const [got, want] = await both((k) => {
        const w = k.weight([N, K], format, ws), x = k.buffer(R * K), out = k.buffer(R * N);
        k.write(x, xs);
        k.matmul(out, x, w, R, seed % 2 === 0 ? k.weight([N], "float32", bs) : undefined);
        return k.read(out);
      });
      expect(worst(got, want), `R ${R} N ${N} K ${K}`).toBeLessThan(format === "int8" || format === "q4" ? 2e-3 : 2e-5);
    }
  });

  it.each(formats)("matmul, %s weights, products past one 64 × 64 tile: R ∈ {9, 70}, N 130, K 200", async (format) => {
    for (const R of [9, 70]) {
      const N = 130, K = 200;
      const xs = randomFloats(R * K, 71 + R), ws = randomFloats(N * K, 72, 0.3), bs = randomFloats(N, 73);
      const [got, want] = await both((k) => {
        const w = k.weight([N, K], format, ws), x = k.buffer(R * K), out = k.buffer(R * N);
        k.write(x, xs);
        k.matmul(out, x, w, R, k.weight([N], "float32", bs));
        return k.read(out);
      });
      expect(worst(got, want), `R ${R}`).toBeLessThan(format === "int8" || format === "q4" ? 2e-3 : 2e-5);
    }
  });

  it.each(["BF16", "F16"] as const)("weights read from a %s source, stored in every format, give the reference's products", async (type) => {
    const N = 21, K = 75, R = 3;
    const ws = randomFloats(N * K, 51, 0.5), xs = randomFloats(R * K, 52);
    const bits = Uint16Array.from(ws, type === "BF16" ? f32ToBf16Bits : f32ToF16Bits);
    for (const format of formats) {
      const [got, want] = await both((k) => {
        const w = k.weight([N, K], format, { type, read: (from, to, into) => into.set(bits.subarray(from * K, to * K)) });
        const x = k.buffer(R * K), out = k.buffer(R * N);
        k.write(x, xs);
        k.matmul(out, x, w, R);
        return k.read(out);
      });
      expect(worst(got, want), format).toBeLessThan(format === "int8" || format === "q4" ? 2e-3 : 2e-5);
    }
  });

  it("rmsnorm and layernorm, in place and not, D ∈ {5, 64, 67}", async () => {
    for (const D of [5, 64, 67]) for (const R of [1, 4]) {
      const xs = randomFloats(R * D, D, 3), ws = randomFloats(D, D + 1), bs = randomFloats(D, D + 2);
      const [got, want] = await both((k) => {
        const w = k.weight([D], "float32", ws), b = k.weight([D], "float32", bs);
        const x = k.buffer(R * D), y = k.buffer(R * D);
        k.write(x, xs);
        k.rmsnorm(y, x, w, R, 1e-5);
        k.layernorm(x, x, w, b, R, 1e-6);
        return Float32Array.of(...k.read(y), ...k.read(x));
      });
      expect(worst(got, want)).toBeLessThan(2e-6);
    }
  });

  it("rope over two sequences, full and partial rotary, odd half widths", async () => {
    for (const [heads, headDim, rot] of [[3, 10, 10], [2, 12, 6], [1, 64, 64]]) {
      const half = rot / 2, P = 40;
      const cos = Float32Array.from({ length: P * half }, (_, i) => Math.cos(i * 0.37));
      const sin = Float32Array.from({ length: P * half }, (_, i) => Math.sin(i * 0.37));
      const xs = randomFloats(5 * heads * headDim, heads + headDim);
      const [got, want] = await both((k) => {
        const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 16 });
        const batch = k.batch(cache, [{ tokens: [1, 2, 3], start: 30, blocks: [0, 1, 2, 3, 4, 5, 6, 7, 8] }, { tokens: [4, 5], start: 0, blocks: [9] }]);
        const x = k.buffer(xs.length);
        k.write(x, xs);
        k.rope(x, k.weight([P * half], "float32", cos), k.weight([P * half], "float32", sin), batch, heads, headDim, rot);
        return k.read(x);
      });
      expect(worst(got, want)).toBeLessThan(1e-6);
    }
  });

  it.each([[6, 2, 20], [4, 4, 18], [8, 2, 64]])("kvWrite then paged attention (%i heads, %i KV heads, head dim %i): shuffled blocks, several sequences, windows and soft-capping", async (heads, kvHeads, d) => {
    const bs = 4;
    const sequences: BatchSequence[] = [
      { tokens: [1, 2, 3, 4, 5, 6, 7], start: 0, blocks: [5, 2] },       // prefill of 7
      { tokens: [8], start: 9, blocks: [7, 0, 3] },                       // decode at position 9 (older positions hold earlier writes)
      { tokens: [9, 10], start: 3, blocks: [6, 1] },
    ];
    const rows = 10;
    const ks = randomFloats(rows * kvHeads * d, 21), vs = randomFloats(rows * kvHeads * d, 22), qs = randomFloats(rows * heads * d, 23, 2);
    const history = randomFloats(12 * kvHeads * d, 24), historyV = randomFloats(12 * kvHeads * d, 25);
    for (const [window, softcap] of [[0, 0], [5, 0], [0, 3]]) {
      const [got, want] = await both((k) => {
        const cache = k.kvCache({ layers: 2, kvHeads, headDim: d, blockSize: bs, blocks: 8 });
        // earlier positions of sequences 1 and 2, written one batch before
        const hk = k.buffer(history.length), hv = k.buffer(historyV.length);
        k.write(hk, history);
        k.write(hv, historyV);
        const before = k.batch(cache, [
          { tokens: Array(9).fill(0), start: 0, blocks: [7, 0, 3] },
          { tokens: Array(3).fill(0), start: 0, blocks: [6, 1] },
        ]);
        k.kvWrite(cache, 1, hk, hv, before);
        const batch = k.batch(cache, sequences);
        const kb = k.buffer(ks.length), vb = k.buffer(vs.length), q = k.buffer(qs.length), out = k.buffer(qs.length);
        k.write(kb, ks);
        k.write(vb, vs);
        k.write(q, qs);
        k.kvWrite(cache, 1, kb, vb, batch);
        k.attention(out, q, cache, 1, batch, { heads, kvHeads, headDim: d, scale: 1 / Math.sqrt(d), window, softcap });
        return k.read(out);
      });
      expect(worst(got, want), `window ${window} softcap ${softcap}`).toBeLessThan(1e-5);
    }
  });

  // Attention walks keys a cache block at a time with an online softmax, the rows of one sequence in tiles of 4: long
  // prefills over many blocks (tiles cut mid-block, a last tile of 1–3 rows), a window shorter than a tile, a chunk that
  // starts mid-block after cached positions, and sequences of different lengths in one op.
  it.each([[9, 3, 64], [4, 1, 36], [2, 2, 7]])("paged attention for many rows (%i heads, %i KV heads, head dim %i): tiles, blocks, windows", async (heads, kvHeads, d) => {
    const bs = 16;
    const sequences: BatchSequence[] = [
      { tokens: Array(45).fill(1), start: 0, blocks: [3, 0, 5] },          // a prefill of 45 over three blocks
      { tokens: [2], start: 70, blocks: [1, 6, 8, 2, 9] },                 // decode at position 70
      { tokens: Array(22).fill(3), start: 19, blocks: [4, 7, 10] },        // a chunk after 19 cached positions
      { tokens: Array(3).fill(4), start: 0, blocks: [11] },
    ];
    const rows = 45 + 1 + 22 + 3;
    const history = [{ tokens: Array(70).fill(0), start: 0, blocks: [1, 6, 8, 2, 9] }, { tokens: Array(19).fill(0), start: 0, blocks: [4, 7, 10] }];
    const ks = randomFloats(rows * kvHeads * d, 31), vs = randomFloats(rows * kvHeads * d, 32), qs = randomFloats(rows * heads * d, 33, 2);
    const hks = randomFloats(89 * kvHeads * d, 34), hvs = randomFloats(89 * kvHeads * d, 35);
    for (const [window, softcap] of [[0, 0], [3, 0], [20, 0], [0, 5]]) {
      const [got, want] = await both((k) => {
        const cache = k.kvCache({ layers: 1, kvHeads, headDim: d, blockSize: bs, blocks: 12 });
        const hk = k.buffer(hks.length), hv = k.buffer(hvs.length);
        k.write(hk, hks);
        k.write(hv, hvs);
        k.kvWrite(cache, 0, hk, hv, k.batch(cache, history));
        const batch = k.batch(cache, sequences);
        const kb = k.buffer(ks.length), vb = k.buffer(vs.length), q = k.buffer(qs.length), out = k.buffer(qs.length);
        k.write(kb, ks);
        k.write(vb, vs);
        k.write(q, qs);
        k.kvWrite(cache, 0, kb, vb, batch);
        k.attention(out, q, cache, 0, batch, { heads, kvHeads, headDim: d, scale: 1 / Math.sqrt(d), window, softcap });
        return k.read(out);
      });
      expect(worst(got, want), `window ${window} softcap ${softcap}`).toBeLessThan(1e-5);
    }
  });

  // rope of q, rope of k, then kvWrite of k: the wasm backend runs the three in one op (ropeKvWrite); the same bits as apart.
  it("rope of q and k then kvWrite, then attention: the same bits as apart", async () => {
    const heads = 6, kvHeads = 2, d = 16, rot = 12, bs = 4, half = rot / 2, P = 24;
    const sequences: BatchSequence[] = [{ tokens: Array(7).fill(1), start: 0, blocks: [3, 1] }, { tokens: [2], start: 5, blocks: [0, 2] }];
    const rows = 8;
    const qs = randomFloats(rows * heads * d, 61), ks = randomFloats(rows * kvHeads * d, 62), vs = randomFloats(rows * kvHeads * d, 63);
    const cos = Float32Array.from({ length: P * half }, (_, i) => Math.cos(i / 7)), sin = Float32Array.from({ length: P * half }, (_, i) => Math.sin(i / 7));
    await started;
    const run = (k: Kernels, apart: boolean): Float32Array => {
      const cache = k.kvCache({ layers: 1, kvHeads, headDim: d, blockSize: bs, blocks: 4 });
      const c = k.weight([P * half], "float32", cos), s = k.weight([P * half], "float32", sin);
      const q = k.buffer(qs.length), kb = k.buffer(ks.length), vb = k.buffer(vs.length), out = k.buffer(qs.length);
      k.write(q, qs);
      k.write(kb, ks);
      k.write(vb, vs);
      for (let step = 0; step < 2; step++) {                 // twice: the first run may grow working memory
        const batch = k.batch(cache, sequences);
        k.rope(q, c, s, batch, heads, d, rot);
        if (apart) k.read(q);
        k.rope(kb, c, s, batch, kvHeads, d, rot);
        if (apart) k.read(kb);
        k.kvWrite(cache, 0, kb, vb, batch);
        k.attention(out, q, cache, 0, batch, { heads, kvHeads, headDim: d, scale: 0.25 });
      }
      return Float32Array.of(...k.read(out), ...k.read(q), ...k.read(kb));
    };
    const together = run(ops, false), apart = run(ops, true), reference = run(ref, true);
    expect(Array.from(together)).toEqual(Array.from(apart));
    expect(worst(together, reference)).toBeLessThan(1e-5);
  });

  // What batching and prefix caching rest on: a row's attention gives the same bits whatever rows share its op (a
  // prefill of 13 rows, then each row again alone as a decode over the same cache).
  it("attention of a row is bit-identical in a prefill and alone", async () => {
    const heads = 6, kvHeads = 2, d = 24, bs = 4, n = 13;
    const ks = randomFloats(n * kvHeads * d, 41), vs = randomFloats(n * kvHeads * d, 42), qs = randomFloats(n * heads * d, 43, 2);
    for (const window of [0, 5]) {
      await started;
      for (const k of [ops, ref]) {
        const cache = k.kvCache({ layers: 1, kvHeads, headDim: d, blockSize: bs, blocks: 4 });
        const blocks = [2, 0, 3, 1];
        const kb = k.buffer(ks.length), vb = k.buffer(vs.length), q = k.buffer(qs.length), out = k.buffer(qs.length), one = k.buffer(heads * d);
        k.write(kb, ks);
        k.write(vb, vs);
        k.write(q, qs);
        const params = { heads, kvHeads, headDim: d, scale: 1 / Math.sqrt(d), window, softcap: 0 };
        const prefill = k.batch(cache, [{ tokens: Array(n).fill(0), start: 0, blocks }]);
        k.kvWrite(cache, 0, kb, vb, prefill);
        k.attention(out, q, cache, 0, prefill, params);
        const all = k.read(out);
        for (let r = 0; r < n; r++) {
          const alone = k.batch(cache, [{ tokens: [0], start: r, blocks }]);
          k.attention(one, k.view(q, r * heads * d, heads * d), cache, 0, alone, params);
          expect(Array.from(k.read(one)), `row ${r}, window ${window}`).toEqual(Array.from(all.subarray(r * heads * d, (r + 1) * heads * d)));
        }
      }
    }
  });

  it("glu and activation (silu, gelu_tanh, relu2), add, scale, softcap with tails", async () => {
    for (const n of [1, 7, 37, 300]) {
      const gs = randomFloats(n, n, 12), us = randomFloats(n, n + 1, 2);
      for (const act of ACTS) {
        const [got, want] = await both((k) => {
          const g = k.buffer(n), u = k.buffer(n), out = k.buffer(n), y = k.buffer(n);
          k.write(g, gs);
          k.write(u, us);
          k.glu(out, g, u, n, act);
          k.activation(y, g, n, act);
          return Float32Array.of(...k.read(out), ...k.read(y));
        });
        expect(worst(got, want), `${act} n ${n}`).toBeLessThan(2e-6);
      }
      const [got, want] = await both((k) => {
        const g = k.buffer(n), u = k.buffer(n), a = k.buffer(n), s = k.buffer(n), c = k.buffer(n);
        k.write(g, gs);
        k.write(u, us);
        k.add(a, g, u, n);
        k.scale(s, g, 0.37, n);
        k.softcap(c, g, 5, n);
        k.add(g, g, u, n);                                                   // in place
        return Float32Array.of(...k.read(a), ...k.read(s), ...k.read(c), ...k.read(g));
      });
      expect(worst(got, want)).toBeLessThan(2e-6);
    }
  });

  it.each(formats)("embed with a %s table, and gather", async (format) => {
    const V = 11, D = 37;
    const table = randomFloats(V * D, 31);
    const [got, want] = await both((k) => {
      const t = k.weight([V, D], format, table);
      const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 4 });
      const batch = k.batch(cache, [{ tokens: [10, 0, 3], start: 0, blocks: [0], logits: "all" }, { tokens: [7, 7], start: 0, blocks: [1] }]);
      const x = k.buffer(5 * D), picked = k.buffer(4 * D);
      k.embed(x, t, batch);
      k.gather(picked, x, batch, D);
      return Float32Array.of(...k.read(x), ...k.read(picked));
    });
    expect(worst(got, want)).toBe(0);
  });

  it("addPositions: rows of two sequences add their positions' rows, D ∈ {4, 37}", async () => {
    for (const D of [4, 37]) {
      const P = 20, table = randomFloats(P * D, 61 + D), xs = randomFloats(6 * D, 62 + D);
      const [got, want] = await both((k) => {
        const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 8 });
        const batch = k.batch(cache, [{ tokens: [1, 2, 3, 4], start: 15, blocks: [0, 1, 2, 3, 4] }, { tokens: [5, 6], start: 0, blocks: [5] }]);
        const x = k.buffer(6 * D);
        k.write(x, xs);
        k.addPositions(x, k.weight([P * D], "float32", table), batch, D);
        return k.read(x);
      });
      expect(worst(got, want)).toBe(0);
      // the reference itself: row 0 is at position 15, row 4 at position 0
      expect(want[0]).toBe(Math.fround(xs[0] + table[15 * D]));
      expect(want[4 * D + 1]).toBe(Math.fround(xs[4 * D + 1] + table[1]));
    }
  });

  it("addPositions refuses a position past the table", async () => {
    await started;
    for (const k of [ops, ref]) {
      const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 4 });
      const batch = k.batch(cache, [{ tokens: [1, 2], start: 3, blocks: [0, 1] }]);
      expect(() => k.addPositions(k.buffer(8), k.weight([16], "float32", new Float32Array(16)), batch, 4)).toThrow(RangeError);
    }
  });

  it.runIf(formats.includes("ternary"))("ternary values from a ternary source: stored as they are, R ∈ {1, 2, 5}, K up to 1000 (many chunks, i32 sums)", async () => {
    for (const [N, K] of [[13, 1000], [40, 64], [5, 65]]) for (const R of [1, 2, 5]) {
      const q = Int8Array.from(randomFloats(N * K, N + K), (v) => Math.round(v * 1.4)), xs = randomFloats(R * K, R + K, 3);
      const [got, want] = await both((k) => {
        const w = k.weight([N, K], "ternary", { type: "ternary", scale: 0.037, read: (from, to, into) => into.set(q.subarray(from * K, to * K)) });
        const x = k.buffer(R * K), out = k.buffer(R * N);
        k.write(x, xs);
        k.matmul(out, x, w, R);
        return k.read(out);
      });
      expect(worst(got, want), `N ${N} K ${K} R ${R}`).toBeLessThan(2e-5);
    }
  });

  it("a forward-shaped chain of ops gives the reference's result (barriers between dependent ops)", async () => {
    const R = 5, D = 24, F = 40;
    const xs = randomFloats(R * D, 41), w1 = randomFloats(F * D, 42, 0.3), w2 = randomFloats(F * D, 43, 0.3), w3 = randomFloats(D * F, 44, 0.3), nw = randomFloats(D, 45);
    const [got, want] = await both((k) => {
      const x = k.buffer(R * D), h = k.buffer(R * D), g = k.buffer(R * F), u = k.buffer(R * F), p = k.buffer(R * D);
      const norm = k.weight([D], "float32", nw);
      const W1 = k.weight([F, D], formats.includes("int8") ? "int8" : "bfloat16", w1);
      const W2 = k.weight([F, D], formats.includes("int8") ? "int8" : "bfloat16", w2);
      const W3 = k.weight([D, F], "float16", w3);
      k.write(x, xs);
      for (let layer = 0; layer < 3; layer++) {
        k.rmsnorm(h, x, norm, R, 1e-5);
        k.matmul(g, h, W1, R);
        k.matmul(u, h, W2, R);                                             // shares the quantized h
        k.glu(g, g, u, R * F, "silu");
        k.matmul(p, g, W3, R);
        k.add(x, x, p, R * D);
      }
      return k.read(x);
    });
    expect(worst(got, want)).toBeLessThan(5e-3);
  });
});
