// Starting the kernels a load asked for: wasm / js on the cpu, the gpu backend (the optional @actorlm/gpu package,
// loaded here on demand) on WebGPU or in gpu.js's cpu mode, or `auto`. A GPU asked for and not found — no package,
// no adapter — is MODEL_LOAD naming the device, never a silent fall back to the cpu; `auto` falls back and says why.
import { availableParallelism } from "node:os";
import { createKernels, type Kernels } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import type { KernelPlan } from "./args.js";

/** The package that holds the gpu backend, installed beside @actorlm/llm only by those who want it. */
export const GPU_PACKAGE = "@actorlm/gpu";

/** The part of @actorlm/gpu used here (typed locally, so this package's types need no @actorlm/gpu). */
interface GpuPackage {
  readonly GpuKernels: {
    create(options: { mode: "cpu" | "webgpu"; verbose?: boolean }): Promise<Kernels & { readonly adapter?: GpuAdapterInfo }>;
    measureBandwidth(): Promise<number>;
  };
  readonly GpuUnavailableError: abstract new (...args: never[]) => Error;
}

interface GpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
}

/** The kernels a model runs on, and the device they run on as the model's info reports it. */
export interface StartedKernels {
  readonly kernels: Kernels;
  /** "cpu", or "gpu" (the WebGPU adapter in `adapter`). */
  readonly device: "cpu" | "gpu";
  /** The WebGPU adapter's description (null off the GPU). */
  readonly adapter: string | null;
  /** Why `auto` runs on the cpu (no gpu package, or no usable adapter); null otherwise. */
  readonly fallback: string | null;
}

/** Why the gpu backend cannot start here: its package is missing, or there is no usable adapter. */
class NoGpu extends Error {}

let gpuPackage: Promise<GpuPackage> | undefined;

/** Loads @actorlm/gpu once; NoGpu naming the package to install when it is not installed. */
function loadGpuPackage(): Promise<GpuPackage> {
  gpuPackage ??= import(GPU_PACKAGE).then(
    (mod) => mod as GpuPackage,
    (error: unknown) => {
      gpuPackage = undefined;
      const code = (error as { code?: unknown }).code;
      const missing = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || String(error).includes(GPU_PACKAGE);
      throw new NoGpu(missing
        ? `the gpu backend is not installed (npm install ${GPU_PACKAGE})`
        : `${GPU_PACKAGE} did not load: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    },
  );
  return gpuPackage;
}

/** The gpu backend on `mode`; NoGpu when its package is missing or (WebGPU) no usable adapter is found. */
async function startGpu(mode: "cpu" | "webgpu", verbose = false): Promise<Kernels & { readonly adapter?: GpuAdapterInfo }> {
  const gpu = await loadGpuPackage();
  try {
    return await gpu.GpuKernels.create({ mode, verbose });
  } catch (error) {
    if (error instanceof gpu.GpuUnavailableError) throw new NoGpu(error.message, { cause: error });
    throw error;
  }
}

/**
 * Starts the kernels of `plan` (cpu kernels on `threads` threads, default every core). A GPU device without the gpu
 * package or a usable WebGPU adapter is MODEL_LOAD naming it; under `auto` it means the cpu's wasm kernels instead.
 * `verbose` lets Dawn's own messages through while the GPU is looked for.
 */
export async function startKernels(plan: KernelPlan, threads: number | undefined, verbose = false): Promise<StartedKernels> {
  const cpuThreads = threads ?? availableParallelism();
  try {
    switch (plan.kind) {
      case "cpu": {
        const kernels = plan.backend === "gpu" ? await startGpu("cpu") : await createKernels(plan.backend, { threads: cpuThreads });
        return { kernels, device: "cpu", adapter: null, fallback: null };
      }
      case "gpu":
        return onGpu(await startGpu("webgpu", verbose));
      case "auto":
        try {
          return onGpu(await startGpu("webgpu", verbose));
        } catch (error) {
          if (!(error instanceof NoGpu)) throw error;
          const kernels = await createKernels("wasm", { threads: cpuThreads });
          return { kernels, device: "cpu", adapter: null, fallback: `device auto: running on the cpu, ${error.message}` };
        }
    }
  } catch (error) {
    if (!(error instanceof NoGpu)) throw error;
    const field = plan.kind === "cpu" ? "backend" : "device";
    const what = plan.kind === "gpu" ? `device ${plan.device}` : "backend gpu";
    throw new LlmError("MODEL_LOAD", `${what}: ${error.message}`, { field }, { cause: error.cause });
  }
}

/** The GPU's memory bandwidth in GB/s, as the gpu backend measures it; MODEL_LOAD when the gpu package is missing. */
export async function measureGpuBandwidth(): Promise<number> {
  try {
    return await (await loadGpuPackage()).GpuKernels.measureBandwidth();
  } catch (error) {
    if (error instanceof NoGpu) throw new LlmError("MODEL_LOAD", `device gpu: ${error.message}`, { field: "device" }, { cause: error.cause });
    throw error;
  }
}

function onGpu(kernels: Kernels & { readonly adapter?: GpuAdapterInfo }): StartedKernels {
  const a = kernels.adapter;
  const adapter = a === undefined ? null : a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(" ");
  return { kernels, device: "gpu", adapter, fallback: null };
}
