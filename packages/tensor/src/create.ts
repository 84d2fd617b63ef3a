/** Picks and starts a compute backend by name. */
import { GpuKernels, type GpuOptions } from "./gpu/gpu-kernels.js";
import type { Kernels, KernelsName } from "./kernels.js";
import { JsKernels } from "./reference/js-kernels.js";
import type { SimdLevel } from "./wasm/module.js";
import { WasmKernels } from "./wasm/wasm-kernels.js";

/** How to start a backend. */
export interface KernelsOptions {
  /** Threads for the kernels (the calling thread included); default 1. Ignored by `js`. */
  readonly threads?: number;
  /** wasm: which SIMD build (default: relaxed where the runtime validates it, else plain). */
  readonly simd?: SimdLevel | "auto";
  /** gpu: WebGPU (default) or gpu.js's cpu mode, which adapters count, and which kernels where both languages have one. */
  readonly gpu?: GpuOptions;
}

/** Every backend name, with whether this build has it. */
export const KERNELS: Readonly<Record<KernelsName, boolean>> = { js: true, wasm: true, gpu: true };

/** Starts the backend `name`; rejects with a RangeError naming it when this build has no such backend. */
export async function createKernels(name: KernelsName, options: KernelsOptions = {}): Promise<Kernels> {
  switch (name) {
    case "js":
      return new JsKernels();
    case "wasm":
      return WasmKernels.create(options);
    case "gpu":
      return GpuKernels.create(options.gpu);
    default:
      throw new RangeError(`backend ${JSON.stringify(name)} is not available (available: ${Object.entries(KERNELS).filter(([, ok]) => ok).map(([n]) => n).join(", ")})`);
  }
}
