/**
 * The part of gpu.js (2.24) the backend uses, typed: a GPU in a mode, kernels made from a source function, and
 * the settings every kernel gets. Loaded on first use, so the other backends never load it.
 */
import type { ArgKind, GpuJsKernel } from "./gpujs-kernels.js";

/** gpu.js's settings of one kernel, as far as we set them. */
export interface KernelSettings {
  readonly output: number[];
  readonly dynamicOutput: boolean;
  readonly dynamicArguments: boolean;
  readonly loopMaxIterations: number;
  readonly argumentTypes: Record<string, "Array" | "Integer" | "Float">;
}

/** A kernel as gpu.js returns it: callable, with its output size settable and its implementation inside. */
export interface GpuJsRunner {
  (...args: unknown[]): unknown;
  setOutput(output: number[]): GpuJsRunner;
  readonly kernel: unknown;
}

/** A gpu.js GPU object. */
export interface GpuJsGpu {
  createKernel(source: GpuJsKernel["source"], settings: KernelSettings): GpuJsRunner;
  destroy(): unknown;
}

/** The gpu.js module. */
export interface GpuJsModule {
  readonly GPU: new (settings: { mode: "cpu" | "webgpu" }) => GpuJsGpu;
}

/** Loops in kernels run up to a row's length (gpu.js stops them at 1000 iterations unless told otherwise). */
const LOOP_MAX = 2 ** 30;

const TYPE: Readonly<Record<ArgKind, "Array" | "Integer" | "Float">> = { array: "Array", int: "Integer", float: "Float" };

/** The settings every gpu.js kernel of the backend is made with (sizes change per call). */
export function kernelSettings(k: GpuJsKernel): KernelSettings {
  return {
    output: new Array<number>(k.rank).fill(1),
    dynamicOutput: true,
    dynamicArguments: true,
    loopMaxIterations: LOOP_MAX,
    argumentTypes: Object.fromEntries(k.args.map(([name, kind]) => [name, TYPE[kind]])),
  };
}

/** Loads gpu.js (a CommonJS module). */
export async function loadGpuJs(): Promise<GpuJsModule> {
  const mod = (await import("gpu.js")) as unknown as { default?: GpuJsModule } & Partial<GpuJsModule>;
  const gpujs = mod.default ?? mod;
  if (typeof gpujs.GPU !== "function") throw new Error("gpu.js did not load (no GPU export)");
  return gpujs as GpuJsModule;
}
