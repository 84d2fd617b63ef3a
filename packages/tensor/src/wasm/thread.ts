/**
 * A helper thread of the wasm backend: instantiates the kernel module over the shared memory and runs its share
 * of every command list until told to stop. A trap marks the control block faulty so no thread waits for it.
 */
import { parentPort, workerData } from "node:worker_threads";

/** What the backend sends a helper at start. */
export interface HelperData {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  /** Address of the control block. */
  readonly ctrl: number;
  /** This helper's thread index (1 .. threads − 1). */
  readonly tid: number;
  /** The control block's generation when the helper was made. */
  readonly generation: number;
}

/** Offset (in i32 words) of the fault flag in the control block. */
export const FAULT_WORD = 10;

const data = workerData as HelperData;
const instance = new WebAssembly.Instance(data.module, { env: { memory: data.memory, abort: () => undefined } });
const helperLoop = instance.exports.helperLoop as (ctrl: number, tid: number, generation: number) => void;
parentPort?.postMessage("ready");
try {
  helperLoop(data.ctrl, data.tid, data.generation);
} catch (error) {
  const i32 = new Int32Array(data.memory.buffer);
  Atomics.store(i32, (data.ctrl >> 2) + FAULT_WORD, 1);
  Atomics.notify(i32, (data.ctrl >> 2) + FAULT_WORD);
  throw error;
}
