export { GpuKernels, type GpuOptions } from "./gpu-kernels.js";
export { GpuUnavailableError, type AdapterChoice } from "./webgpu-device.js";
export type { AdapterInfo } from "./device.js";
