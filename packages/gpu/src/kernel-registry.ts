/**
 * Kernel ids as the command tape records them: the gpu.js kernels, then the WGSL ones. Both sides of the GPU
 * thread import this module, so an id means the same kernel on each.
 */
import { GPUJS_KERNELS, type GpuJsKernel } from "./gpujs-kernels.js";
import { WGSL_KERNELS, type WgslKernel } from "./wgsl-kernels.js";

/** A kernel of either language. */
export type AnyKernel = { readonly kind: "gpujs"; readonly kernel: GpuJsKernel } | { readonly kind: "wgsl"; readonly kernel: WgslKernel };

const ALL: readonly AnyKernel[] = [
  ...Object.values(GPUJS_KERNELS).map((kernel): AnyKernel => ({ kind: "gpujs", kernel })),
  ...Object.values(WGSL_KERNELS).map((kernel): AnyKernel => ({ kind: "wgsl", kernel })),
];
const IDS = new Map(ALL.map((k, i) => [`${k.kind}:${k.kernel.name}`, i]));

/** The id of a kernel; throws on an unknown name. */
export function kernelId(kind: AnyKernel["kind"], name: string): number {
  const id = IDS.get(`${kind}:${name}`);
  if (id === undefined) throw new Error(`gpu backend: no ${kind} kernel ${JSON.stringify(name)}`);
  return id;
}

/** The kernel with id `id`; throws on an unknown id. */
export function kernelAt(id: number): AnyKernel {
  const k = ALL[id];
  if (k === undefined) throw new Error(`gpu backend: no kernel with id ${id}`);
  return k;
}

/** Every kernel, in id order. */
export function allKernels(): readonly AnyKernel[] {
  return ALL;
}
