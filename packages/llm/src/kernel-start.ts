// Starting the kernels a load asked for: wasm / js on the cpu, the gpu backend on WebGPU (or in gpu.js's cpu mode),
// or `auto`. A GPU asked for and not found is MODEL_LOAD naming the device, never a silent fall back to the cpu.
import { availableParallelism } from "node:os";
import { GpuKernels, GpuUnavailableError, createKernels, type Kernels } from "@actorlm/tensor";
import { LlmError } from "./errors.js";
import type { KernelPlan } from "./model-args.js";

/** The kernels a model runs on, and the device they run on as the model's info reports it. */
export interface StartedKernels {
  readonly kernels: Kernels;
  /** "cpu", or "gpu" (the WebGPU adapter in `adapter`). */
  readonly device: "cpu" | "gpu";
  /** The WebGPU adapter's description (null off the GPU). */
  readonly adapter: string | null;
}

/**
 * Starts the kernels of `plan` (cpu kernels on `threads` threads, default every core). A GPU device without a usable
 * WebGPU adapter is MODEL_LOAD naming it; under `auto` it means the cpu's wasm kernels instead.
 */
export async function startKernels(plan: KernelPlan, threads: number | undefined): Promise<StartedKernels> {
  switch (plan.kind) {
    case "cpu": {
      const kernels = await createKernels(plan.backend, { threads: threads ?? availableParallelism(), gpu: { mode: "cpu" } });
      return { kernels, device: "cpu", adapter: null };
    }
    case "gpu":
      try {
        return onGpu(await GpuKernels.create({ mode: "webgpu" }));
      } catch (error) {
        if (error instanceof GpuUnavailableError) {
          throw new LlmError("MODEL_LOAD", `device ${plan.device}: ${error.message}`, { field: "device" }, { cause: error });
        }
        throw error;
      }
    case "auto":
      try {
        return onGpu(await GpuKernels.create({ mode: "webgpu" }));
      } catch (error) {
        if (!(error instanceof GpuUnavailableError)) throw error;
        return { kernels: await createKernels("wasm", { threads: threads ?? availableParallelism() }), device: "cpu", adapter: null };
      }
  }
}

function onGpu(kernels: GpuKernels): StartedKernels {
  const a = kernels.adapter;
  return { kernels, device: "gpu", adapter: a === undefined ? null : a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(" ") };
}
