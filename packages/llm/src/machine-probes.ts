// What the machine can do, as the kernels measure it: the memory bandwidth the weights are read at and the wasm SIMD
// arithmetic peak. `actorlm bench` reports its figures against these, through this package (the server never sees
// the tensor package).
import { WasmKernels, type SimdPeak } from "@actorlm/tensor";
import { measureGpuBandwidth } from "./engine/start-kernels.js";

export type { SimdPeak };

/** The bandwidth (GB/s) of the memory a model's weights live in: the GPU's own on `gpu`, the cores' over `threads` on the cpu. */
export function measureBandwidth(device: "cpu" | "gpu", threads: number): Promise<number> {
  return device === "gpu" ? measureGpuBandwidth() : WasmKernels.measureBandwidth(threads);
}

/** One thread's wasm SIMD arithmetic peak: float32 multiply-adds (GFLOP/s) and the int8 products' multiply-adds (GOP/s). */
export function measureSimdPeak(): Promise<SimdPeak> {
  return WasmKernels.measurePeak();
}
