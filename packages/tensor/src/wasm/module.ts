/**
 * The compiled kernel module, chosen once per process: the relaxed-SIMD build where the runtime validates it
 * (fused multiply-add), else the plain-SIMD build. Both are compiled from `packages/tensor/assembly` by the
 * package build (scripts/build-wasm.mjs) and sit next to this file's bundle.
 */
import { readFileSync } from "node:fs";

/** Which SIMD build runs. */
export type SimdLevel = "relaxed" | "plain";

/** A compiled module and the build it came from. */
export interface KernelModule {
  readonly module: WebAssembly.Module;
  readonly simd: SimdLevel;
}

const cache = new Map<SimdLevel | "auto", KernelModule>();

/** The kernel module: `auto` takes relaxed SIMD when this runtime validates it, plain SIMD otherwise. */
export function kernelModule(want: SimdLevel | "auto" = "auto"): KernelModule {
  const hit = cache.get(want);
  if (hit !== undefined) return hit;
  const relaxed = want !== "plain" ? readFileSync(new URL("./kernels-relaxed.wasm", import.meta.url)) : undefined;
  let chosen: KernelModule;
  if (relaxed !== undefined && WebAssembly.validate(relaxed)) {
    chosen = { module: new WebAssembly.Module(relaxed), simd: "relaxed" };
  } else if (want === "relaxed") {
    throw new RangeError("this runtime does not validate relaxed SIMD (Node.js 20 needs --experimental-wasm-relaxed-simd)");
  } else {
    chosen = { module: new WebAssembly.Module(readFileSync(new URL("./kernels-plain.wasm", import.meta.url))), simd: "plain" };
  }
  cache.set(want, chosen);
  return chosen;
}
