/**
 * The gpu backend's kernels in gpu.js's `cpu` mode: the same kernel sources gpu.js translates for WebGPU, run as
 * JavaScript over float32 arrays on this thread. What CI and machines without a GPU run; slow, but every op of the
 * backend goes through the same tape and the same gpu.js kernels as on a GPU.
 */
import type { GpuDevice, ReadRange } from "./device.js";
import { kernelSettings, loadGpuJs, type GpuJsGpu, type GpuJsRunner } from "./gpujs.js";
import { kernelAt } from "./kernel-registry.js";
import { walkTape, type Dispatch, type Tape } from "./tape.js";

/** gpu.js cpu mode over typed arrays. */
export class CpuDevice implements GpuDevice {
  readonly mode = "cpu" as const;
  readonly adapter = undefined;
  readonly maxBufferBytes = 2 ** 31;
  readonly #gpu: GpuJsGpu;
  readonly #buffers = new Map<number, Float32Array>();
  readonly #runners = new Map<number, GpuJsRunner>();

  private constructor(gpu: GpuJsGpu) {
    this.#gpu = gpu;
  }

  /** Loads gpu.js and makes a cpu-mode GPU object. */
  static async create(): Promise<CpuDevice> {
    const gpujs = await loadGpuJs();
    return new CpuDevice(new gpujs.GPU({ mode: "cpu" }));
  }

  createBuffer(id: number, bytes: number): void {
    this.#buffers.set(id, new Float32Array(Math.ceil(bytes / 4)));
  }

  writeBuffer(id: number, byteOffset: number, data: Uint8Array): void {
    const b = this.#buffer(id);
    new Uint8Array(b.buffer, b.byteOffset, b.byteLength).set(data, byteOffset);
  }

  destroyBuffer(id: number): void {
    this.#buffers.delete(id);
  }

  run(tape: Tape, read?: ReadRange): Float32Array | undefined {
    try {
      walkTape(tape.buffer, tape.length, {
        dispatch: (d) => this.#dispatch(d),
        copy: (src, so, dst, dOff, n) => this.#buffer(dst).set(this.#buffer(src).subarray(so, so + n), dOff),
        upload: (dst, dOff, values) => this.#buffer(dst).set(values, dOff),
      });
    } finally {
      tape.reset();
    }
    if (read === undefined) return undefined;
    return this.#buffer(read.buffer).slice(read.offset, read.offset + read.length);
  }

  async dispose(): Promise<void> {
    this.#buffers.clear();
    this.#runners.clear();
    this.#gpu.destroy();
  }

  /** Runs one gpu.js kernel over the grid and stores its values in `out` from `outOffset`, x fastest. */
  #dispatch(d: Dispatch): void {
    const k = kernelAt(d.kernel);
    if (k.kind !== "gpujs") throw new Error(`gpu backend (cpu mode): WGSL kernel ${k.kernel.name} cannot run here`);
    const spec = k.kernel;
    let runner = this.#runners.get(d.kernel);
    if (runner === undefined) {
      runner = this.#gpu.createKernel(spec.source, kernelSettings(spec));
      this.#runners.set(d.kernel, runner);
    }
    let a = 0, i = 0, f = 0;
    const args = spec.args.map(([, kind]) => (kind === "array" ? this.#buffer(d.arrays[a++]) : kind === "int" ? d.ints[i++] : d.floats[f++]));
    const [gx, gy, gz] = d.grid;
    if (gx * gy * gz === 0) return;
    runner.setOutput([gx, gy, gz].slice(0, spec.rank));
    const result = runner(...args);
    const out = this.#buffer(d.out);
    switch (spec.rank) {
      case 1:
        out.set(result as Float32Array, d.outOffset);
        break;
      case 2:
        (result as Float32Array[]).forEach((row, y) => out.set(row, d.outOffset + y * gx));
        break;
      case 3:
        (result as Float32Array[][]).forEach((plane, z) => plane.forEach((row, y) => out.set(row, d.outOffset + (z * gy + y) * gx)));
        break;
    }
  }

  #buffer(id: number): Float32Array {
    const b = this.#buffers.get(id);
    if (b === undefined) throw new Error(`gpu backend (cpu mode): no buffer ${id}`);
    return b;
  }
}
