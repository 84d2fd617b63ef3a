/**
 * What the gpu backend asks of the place its kernels run: buffers by id, load-time writes, and running a command
 * tape (then reading a range back) synchronously. Two implementations: gpu.js's cpu mode on this thread
 * (cpu-device.ts), and WebGPU on a thread of its own (webgpu-device.ts), which this thread waits for.
 */
import type { Tape } from "./tape.js";

/** A range of a buffer to read back after a tape ran. */
export interface ReadRange {
  readonly buffer: number;
  readonly offset: number;
  readonly length: number;
}

/** The adapter a WebGPU device runs on, as the adapter describes itself. */
export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** True for a software (CPU) implementation such as Mesa's lavapipe. */
  readonly fallback: boolean;
}

/** Where the gpu backend's kernels run. */
export interface GpuDevice {
  /** gpu.js's cpu mode (float32 storage only, gpu.js kernels only), or WebGPU (WGSL kernels too). */
  readonly mode: "cpu" | "webgpu";
  /** The WebGPU adapter (undefined in the cpu mode). */
  readonly adapter: AdapterInfo | undefined;
  /** Largest buffer the device binds, in bytes. */
  readonly maxBufferBytes: number;
  /** Allocates a zeroed buffer. */
  createBuffer(id: number, bytes: number): void;
  /** Writes bytes at once (weights at load; nothing recorded may be pending on this buffer). */
  writeBuffer(id: number, byteOffset: number, data: Uint8Array): void;
  /** Frees a buffer (after the tape that last used it ran). */
  destroyBuffer(id: number): void;
  /** Runs the tape's commands in order, then returns `read` (if given) as a new array; the tape is emptied. */
  run(tape: Tape, read?: ReadRange): Float32Array | undefined;
  /** Frees everything and stops the device's thread. */
  dispose(): Promise<void>;
}
