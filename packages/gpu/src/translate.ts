/**
 * gpu.js as a compiler: its WebGPU backend translates a kernel's JavaScript to WGSL and lays out the kernel's
 * parameter struct, with no device involved. We take that output and dispatch the kernel ourselves (see
 * webgpu-executor.ts), because gpu.js's own runner cannot serve a model: every call re-uploads plain-array
 * arguments, submits on its own and writes to a buffer the kernel owns, and its compiled `createPipeline` plans
 * need fixed output sizes and cannot keep a mutated KV cache resident across calls.
 *
 * The translation steps are the synchronous half of gpu.js 2.24's WebGPUKernel.build(); this module is tied to
 * that version (package.json pins it) and checks what it relies on, so an upgrade that changes them fails here.
 */
import type { GpuJsKernel } from "./gpujs-kernels.js";
import { kernelSettings, type GpuJsModule } from "./gpujs.js";

/** An array argument of a translated kernel: its binding (1 + its rank among arrays) and its dims' place in the params. */
export interface TranslatedArray {
  readonly name: string;
  readonly dimsOffset: number;
}

/** A scalar argument: where its value goes in the params, as i32 or f32. */
export interface TranslatedScalar {
  readonly name: string;
  readonly type: "i32" | "f32";
  readonly offset: number;
}

/** A gpu.js kernel as WGSL, with the layout of its parameters. */
export interface TranslatedKernel {
  readonly name: string;
  readonly wgsl: string;
  /** Array arguments in binding order (bindings 1 .., read-only); the result array (writable) binds right after them. */
  readonly arrays: readonly TranslatedArray[];
  readonly scalars: readonly TranslatedScalar[];
  /** Bytes of the params struct (outputX, outputY, outputZ, dispatchWidth, each array's dims, the scalars). */
  readonly paramsBytes: number;
  readonly workgroupSize: readonly [number, number, number];
}

/** The members of gpu.js's WebGPUKernel this translation calls or reads. */
interface WebGpuKernelInternals {
  output: number[];
  threadDim: number[];
  compiledSource: string;
  workgroupSize: number[];
  paramsLayout: {
    arrayArgs: { name: string; index: number; dimsOffset: number }[];
    scalarArgs: { name: string; index: number; type: string; offset: number }[];
    bufferConstants: unknown[];
    randomSeedOffset: number | null;
    byteLength: number;
  };
  setupConstants(): void;
  setupArguments(args: unknown[]): void;
  validateSettings(args: unknown[]): void;
  translateSource(): void;
  computeParamsLayout(): WebGpuKernelInternals["paramsLayout"];
  assembleWGSL(): string;
}

/** Translates a gpu.js kernel to WGSL; throws naming the kernel when gpu.js refuses it or its output is not as expected. */
export function translateGpuJs(gpujs: GpuJsModule, k: GpuJsKernel): TranslatedKernel {
  const gpu = new gpujs.GPU({ mode: "webgpu" });
  try {
    const runner = gpu.createKernel(k.source, kernelSettings(k));
    const kernel = runner.kernel as WebGpuKernelInternals;
    for (const method of ["setupConstants", "setupArguments", "validateSettings", "translateSource", "computeParamsLayout", "assembleWGSL"] as const) {
      if (typeof kernel[method] !== "function") throw new Error(`gpu.js has no WebGPUKernel.${method} (is gpu.js 2.24 installed?)`);
    }
    const sample = k.args.map(([, kind]) => (kind === "array" ? new Float32Array(4) : kind === "int" ? 1 : 0.5));
    kernel.setupConstants();
    kernel.setupArguments(sample);
    kernel.validateSettings(sample);
    kernel.threadDim = [...kernel.output, 1, 1, 1].slice(0, 3);
    kernel.translateSource();
    kernel.paramsLayout = kernel.computeParamsLayout();
    const source = kernel.assembleWGSL();
    const layout = kernel.paramsLayout;
    if (layout.bufferConstants.length > 0 || layout.randomSeedOffset !== null) throw new Error("uses constants or random numbers, which the backend does not bind");
    // Arguments are matched by position (a bundler may rename a kernel's parameters, never reorder them).
    const positions = (kinds: readonly string[]) => k.args.flatMap(([, kind], i) => (kinds.includes(kind) ? [i] : []));
    const arrays = layout.arrayArgs.map((a) => ({ name: k.args[a.index][0], dimsOffset: a.dimsOffset }));
    if (layout.arrayArgs.map((a) => a.index).join() !== positions(["array"]).join()) throw new Error("its array arguments are not where the kernel declares them");
    const scalars = layout.scalarArgs.map((s): TranslatedScalar => ({ name: k.args[s.index][0], type: s.type === "Integer" ? "i32" : "f32", offset: s.offset }));
    if (layout.scalarArgs.map((s) => s.index).join() !== positions(["int", "float"]).join() || scalars.some((s, i) => (s.type === "i32") !== (k.args[layout.scalarArgs[i].index][1] === "int"))) {
      throw new Error("its scalar arguments do not have the kinds the kernel declares");
    }
    const found = source.match(/var<storage, read> user_/g)?.length ?? 0;
    if (found !== arrays.length) throw new Error(`expected ${arrays.length} read-only array bindings in the WGSL, found ${found}`);
    const size = kernel.workgroupSize;
    return { name: k.name, wgsl: source, arrays, scalars, paramsBytes: layout.byteLength, workgroupSize: [size[0], size[1], size[2]] };
  } catch (error) {
    throw new Error(`gpu.js could not translate kernel ${k.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    gpu.destroy();
  }
}
