/**
 * Messages between the gpu backend (on the model's thread) and its GPU thread. Commands go to the thread in
 * order; `run` is answered on a port of its own that the model's thread reads synchronously (receiveMessageOnPort)
 * once the thread has raised the shared flag to the run's sequence number.
 */
import type { MessagePort } from "node:worker_threads";
import type { AdapterInfo, ReadRange } from "./device.js";

/** Which adapters the thread may take: "hardware" refuses a software (fallback) adapter, "any" takes it. */
export type AdapterChoice = "hardware" | "any";

/** What the GPU thread starts with. */
export interface GpuThreadData {
  readonly choice: AdapterChoice;
  /** One Int32 word: the sequence number of the last run answered. */
  readonly flag: SharedArrayBuffer;
  readonly reply: MessagePort;
}

/** Commands to the GPU thread. */
export type ToGpuThread =
  | { readonly type: "create"; readonly id: number; readonly bytes: number }
  | { readonly type: "write"; readonly id: number; readonly byteOffset: number; readonly data: Uint8Array }
  | { readonly type: "destroy"; readonly id: number }
  | { readonly type: "run"; readonly seq: number; readonly tape: ArrayBuffer; readonly length: number; readonly read?: ReadRange }
  | { readonly type: "dispose" };

/** Why the GPU thread could not start. */
export type GpuFailure = "no-webgpu" | "no-adapter" | "fallback-adapter" | "device" | "kernels";

/** The thread's first message: ready, or why not. */
export type GpuThreadStarted =
  | { readonly type: "ready"; readonly adapter: AdapterInfo; readonly maxBufferBytes: number }
  | { readonly type: "failed"; readonly reason: GpuFailure; readonly message: string; readonly adapter?: AdapterInfo };

/** What the probe (probe.ts) prints, as one JSON line on stdout: the adapter it found, or why there is none. */
export type ProbeResult =
  | { readonly type: "found"; readonly adapter: AdapterInfo }
  | { readonly type: "failed"; readonly reason: GpuFailure; readonly message: string; readonly adapter?: AdapterInfo };

/** The answer to a run: the tape's buffer back (for reuse), the data read, or the error. */
export interface RunReply {
  readonly seq: number;
  readonly tape: ArrayBuffer;
  readonly data?: Float32Array;
  readonly error?: string;
}
