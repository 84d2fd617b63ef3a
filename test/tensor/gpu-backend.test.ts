/**
 * The gpu backend's own contract, checked without a GPU: what it supports and refuses, gpu.js translating every
 * kernel to WGSL (no device needed), the command tape, the device layout of 16-bit weights, and starting it where
 * there is no WebGPU adapter. Its ops against the reference: kernels-parity.test.ts.
 */
import { afterAll, describe, expect, it } from "vitest";
import { GpuKernels, GpuUnavailableError, type AdapterChoice } from "@actorlm/gpu";
import { JsKernels, OPS, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, type Kernels } from "@actorlm/tensor";
import { GPUJS_KERNELS } from "../../packages/gpu/src/gpujs-kernels.js";
import { loadGpuJs } from "../../packages/gpu/src/gpujs.js";
import { packRows, paddedK } from "../../packages/gpu/src/layout.js";
import { Tape, walkTape, type Dispatch } from "../../packages/gpu/src/tape.js";
import { translateGpuJs } from "../../packages/gpu/src/translate.js";
import { WGSL_KERNELS, prelude } from "../../packages/gpu/src/wgsl-kernels.js";
import { randomFloats } from "./helpers.js";

const onGpuMachine = process.env.ACTORLM_TEST_WEBGPU !== undefined;

describe("gpu backend (gpu.js cpu mode): what it supports and refuses", () => {
  let k: Kernels;
  const started = GpuKernels.create({ mode: "cpu" }).then((made) => (k = made));
  afterAll(async () => (await started).dispose());

  it("every op of the interface, with float32, float16 and bfloat16 weights; not int8", async () => {
    await started;
    for (const op of OPS) {
      expect(k.supports(op), op).toBe(true);
      for (const format of ["float32", "float16", "bfloat16"] as const) expect(k.supports(op, format), `${op} ${format}`).toBe(true);
      expect(k.supports(op, "int8"), `${op} int8`).toBe(false);
    }
    expect(k.supports("no-such-op" as never)).toBe(false);
    expect(() => k.weight([4, 8], "int8", new Float32Array(32))).toThrow(RangeError);
  });

  it("refuses buffers too small for an op, and a batch whose tables a later batch replaced", async () => {
    await started;
    const w = k.weight([6, 8], "float32", randomFloats(48, 1));
    expect(() => k.matmul(k.buffer(6), k.buffer(16), w, 2)).toThrow(RangeError);            // output needs 2 × 6
    const cache = k.kvCache({ layers: 1, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 4 });
    const first = k.batch(cache, [{ tokens: [1, 2], start: 0, blocks: [0] }]);
    k.batch(cache, [{ tokens: [3], start: 0, blocks: [1] }]);
    expect(() => k.gather(k.buffer(8), k.buffer(8), first, 4)).toThrow(/replaced by a later batch/);
  });

  it("an op may write over one of its inputs, and read one buffer as two inputs", async () => {
    await started;
    const ref = new JsKernels();
    const xs = randomFloats(37, 3);
    const run = (kk: Kernels) => {
      const x = kk.buffer(37), y = kk.buffer(37);
      kk.write(x, xs);
      kk.add(y, x, x, 37);                   // one buffer, both inputs
      kk.glu(x, x, y, 37, "silu");           // output over the gate
      kk.add(x, y, x, 37);                   // output over the second input
      return kk.read(x);
    };
    const got = run(k), want = run(ref);
    for (let i = 0; i < 37; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });
});

const webgpu = process.env.ACTORLM_TEST_WEBGPU as AdapterChoice | undefined;
const VIEW_BACKENDS: [string, () => Promise<Kernels>][] = [
  ["gpu.js cpu mode", () => GpuKernels.create({ mode: "cpu" })],
  ...(webgpu === undefined ? [] : [
    [`WebGPU (${webgpu} adapter)`, () => GpuKernels.create({ adapter: webgpu })] as [string, () => Promise<Kernels>],
    [`WebGPU, gpu.js kernels (${webgpu} adapter)`, () => GpuKernels.create({ adapter: webgpu, prefer: "gpujs" })] as [string, () => Promise<Kernels>],
  ]),
];

describe.each(VIEW_BACKENDS)("gpu backend (%s): views at odd offsets, as inputs and outputs", (_, make) => {
  it("matmul, rmsnorm, add and glu through views of one buffer give the reference's values", async () => {
    const k = await make();
    try {
      const ref = new JsKernels();
      const R = 3, N = 10, K = 7, ws = randomFloats(N * K, 61, 0.5), xs = randomFloats(R * K, 62), nw = randomFloats(K, 63);
      const run = (kk: Kernels) => {
        const big = kk.buffer(1000);
        const x = kk.view(big, 5, R * K), y = kk.view(big, 101, R * N), z = kk.view(big, 333, R * K), u = kk.view(big, 517, R * N);
        kk.write(x, xs);
        kk.matmul(y, x, kk.weight([N, K], "float32", ws), R);          // output at element 101 (not a bindable offset)
        kk.rmsnorm(z, x, kk.weight([K], "float32", nw), R, 1e-5);
        kk.add(u, y, y, R * N);
        kk.glu(y, y, u, R * N, "silu");
        return kk.read(big);
      };
      const got = run(k), want = run(ref);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `element ${i}`).toBeLessThan(1e-5);
    } finally {
      await k.dispose();
    }
  });
});

describe("gpu.js as the compiler: every gpu.js kernel translates to WGSL without a device", () => {
  it.each(Object.values(GPUJS_KERNELS).map((k) => [k.name, k] as const))("%s", async (_, kernel) => {
    // gpu.js offers its webgpu mode only where navigator.gpu exists: Dawn's, which needs no adapter to translate
    const webgpu = (await import("webgpu")) as unknown as { create(flags: string[]): unknown; globals: object };
    Object.assign(globalThis, webgpu.globals);
    Object.defineProperty(globalThis, "navigator", { value: { gpu: webgpu.create([]) }, configurable: true, writable: true });
    const t = translateGpuJs(await loadGpuJs(), kernel);
    expect(t.wgsl).toMatch(/@compute @workgroup_size/);
    expect(t.arrays.map((a) => a.name)).toEqual(kernel.args.filter(([, kind]) => kind === "array").map(([name]) => name));
    expect(t.scalars.map((s) => s.type)).toEqual(kernel.args.filter(([, kind]) => kind !== "array").map(([, kind]) => (kind === "int" ? "i32" : "f32")));
    expect(t.paramsBytes).toBeLessThanOrEqual(256);                 // one dynamic-offset slot per dispatch
    if (t.wgsl.includes("LOOP_MAX")) expect(t.wgsl).toContain(`const LOOP_MAX : i32 = ${2 ** 30};`); // loops run to the row's end, not gpu.js's default 1000
  });

  it("the WGSL kernels bind their inputs read-only and their outputs read_write, parameters within one 256-byte slot", () => {
    for (const k of Object.values(WGSL_KERNELS)) {
      const text = prelude(k), writes = k.writes ?? 1;
      k.arrays.forEach(([name], i) => expect(text, `${k.name}.${name}`).toContain(`var<storage, ${i >= k.arrays.length - writes ? "read_write" : "read"}> ${name}:`));
      expect(4 * (k.ints.length + k.floats.length), k.name).toBeLessThanOrEqual(256);
    }
  });
});

describe("the command tape", () => {
  it("gives back every command in order, floats exact, and grows past its first buffer", () => {
    const tape = new Tape(new ArrayBuffer(64));
    const big = randomFloats(1000, 9);
    tape.dispatch(3, [5, 6, 7], 11, 12, [1, 2], [-4, 8], [0.1, -2.5]);
    tape.copy(1, 2, 3, 4, 5);
    tape.upload(9, 10, big);
    tape.copy(1, 0, 2, 0, 0);                                       // nothing to copy: not recorded
    const seen: unknown[] = [];
    walkTape(tape.buffer, tape.length, {
      dispatch: (d: Dispatch) => seen.push(["dispatch", d]),
      copy: (...args) => seen.push(["copy", ...args]),
      upload: (dst, offset, values) => seen.push(["upload", dst, offset, Array.from(values)]),
    });
    expect(seen).toEqual([
      ["dispatch", { kernel: 3, grid: [5, 6, 7], out: 11, outOffset: 12, arrays: [1, 2], ints: [-4, 8], floats: [Math.fround(0.1), -2.5] }],
      ["copy", 1, 2, 3, 4, 5],
      ["upload", 9, 10, Array.from(big)],
    ]);
    expect(tape.dispatches).toBe(1);
    tape.reset();
    expect(tape.length).toBe(0);
  });
});

describe("device layout of a matrix", () => {
  it("rows padded to a multiple of 8 values; 16-bit values kept exactly from a source of their type, rounded from others", () => {
    const N = 3, K = 5, values = randomFloats(N * K, 4);
    expect(paddedK(K)).toBe(8);
    const f32 = new Float32Array(packRows("float32", "f32", values, 0, N, K).buffer);
    expect(Array.from(f32.subarray(8, 13))).toEqual(Array.from(values.subarray(5, 10)));
    expect(Array.from(f32.subarray(13, 16))).toEqual([0, 0, 0]);
    const bits = Uint16Array.from(values, f32ToF16Bits);
    const fromF16 = new Uint16Array(packRows("float16", "f16", { type: "F16", read: (from, to, into) => into.set(bits.subarray(from * K, to * K)) }, 0, N, K).buffer);
    expect(Array.from(fromF16.subarray(8, 13))).toEqual(Array.from(bits.subarray(5, 10)));
    const fromF32 = new Uint16Array(packRows("bfloat16", "bf16", values, 1, 2, K).buffer);
    expect(Array.from(fromF32.subarray(0, 5))).toEqual(Array.from(values.subarray(5, 10), f32ToBf16Bits));
    // the cpu mode stores float16 as the float32 values the halves hold
    const widened = new Float32Array(packRows("float16", "f32", values, 0, 1, K).buffer);
    expect(Array.from(widened.subarray(0, 5))).toEqual(Array.from(bits.subarray(0, 5), f16BitsToF32));
  });
});

describe.skipIf(onGpuMachine)("no WebGPU adapter (CI)", () => {
  it("starting on WebGPU fails with MODEL_LOAD saying why, never falling back to the cpu", async () => {
    const error = await GpuKernels.create({ adapter: "hardware" }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(GpuUnavailableError);
    expect((error as GpuUnavailableError).code).toBe("MODEL_LOAD");
    expect(["no-adapter", "fallback-adapter", "no-webgpu"]).toContain((error as GpuUnavailableError).reason);
  });
});
