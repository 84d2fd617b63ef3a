/** Picks and starts a cpu backend by name (the gpu backend is the `@actorlm/gpu` package's `GpuKernels`). */
import type { Kernels, KernelsName } from "./kernels.js";
import { JsKernels } from "./reference/js-kernels.js";
import type { SimdLevel } from "./wasm/module.js";
import { WasmKernels } from "./wasm/wasm-kernels.js";

/** The backends this package has. */
export type CpuKernelsName = Exclude<KernelsName, "gpu">;

/** How to start a backend. */
export interface KernelsOptions {
  /** Threads for the kernels (the calling thread included); default 1. Ignored by `js`. */
  readonly threads?: number;
  /** wasm: which SIMD build (default: relaxed where the runtime validates it, else plain). */
  readonly simd?: SimdLevel | "auto";
}

/** Starts the backend `name`; rejects with a RangeError naming it when it is not one of this package's. */
export async function createKernels(name: CpuKernelsName, options: KernelsOptions = {}): Promise<Kernels> {
  if (name === "js") return new JsKernels();
  if (name === "wasm") return WasmKernels.create(options);
  throw new RangeError(`backend ${JSON.stringify(name)} is not in @actorlm/tensor (js, wasm; the gpu backend is @actorlm/gpu's GpuKernels)`);
}
