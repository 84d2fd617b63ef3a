/**
 * The GPU thread: owns the WebGPU device (Dawn, from the `webgpu` package), translates the gpu.js kernels to WGSL
 * and builds every pipeline at start, then executes the commands the gpu backend sends, one at a time. Runs here
 * because WebGPU reads back asynchronously while the Kernels interface reads synchronously: the model's thread
 * waits (Atomics) while this thread's event loop completes the mapping.
 */
/// <reference types="@webgpu/types" />
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { StartFailure, findAdapter } from "./adapter.js";
import type { AdapterInfo } from "./device.js";
import { GPUJS_KERNELS } from "./gpujs-kernels.js";
import { loadGpuJs } from "./gpujs.js";
import type { GpuThreadData, GpuThreadStarted, RunReply, ToGpuThread } from "./protocol.js";
import { translateGpuJs, type TranslatedKernel } from "./translate.js";
import { WebGpuExecutor } from "./webgpu-executor.js";

const data = workerData as GpuThreadData;
const port = parentPort as MessagePort;

/** Loads Dawn, picks the high-performance adapter, opens a device with the adapter's own limits, builds the kernels. */
async function start(): Promise<{ executor: WebGpuExecutor; adapter: AdapterInfo; maxBufferBytes: number }> {
  const { webgpu, gpu, adapter, info } = await findAdapter(data.choice);
  Object.assign(globalThis, webgpu.globals);
  Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true }); // gpu.js looks for navigator.gpu
  const l = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (error) {
    throw new StartFailure("device", `the adapter (${info.description}) gave no device: ${error instanceof Error ? error.message : String(error)}`, info);
  }
  try {
    const gpujs = await loadGpuJs();
    const translated = new Map<string, TranslatedKernel>(Object.values(GPUJS_KERNELS).map((k) => [k.name, translateGpuJs(gpujs, k)]));
    const executor = await WebGpuExecutor.create(device, translated);
    return { executor, adapter: info, maxBufferBytes: Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize) };
  } catch (error) {
    device.destroy();
    throw new StartFailure("kernels", error instanceof Error ? error.message : String(error), info);
  }
}

/** Executes commands in order; a run answers on the reply port, then raises the flag. */
function serve(executor: WebGpuExecutor): void {
  const flag = new Int32Array(data.flag);
  let deferred: string | undefined;               // an error of a command nobody waits for, told at the next run
  let queue = Promise.resolve();
  port.on("message", (message: ToGpuThread) => {
    queue = queue.then(async () => {
      switch (message.type) {
        case "create":
        case "write":
        case "destroy":
          try {
            if (message.type === "create") executor.create(message.id, message.bytes);
            else if (message.type === "write") executor.write(message.id, message.byteOffset, message.data);
            else executor.destroy(message.id);
          } catch (error) {
            deferred ??= error instanceof Error ? error.message : String(error);
          }
          return;
        case "run": {
          let reply: RunReply;
          try {
            if (deferred !== undefined) throw new Error(deferred);
            const out = await executor.run(message.tape, message.length, message.read);
            reply = { seq: message.seq, tape: message.tape, data: out };
          } catch (error) {
            deferred = undefined;
            reply = { seq: message.seq, tape: message.tape, error: error instanceof Error ? error.message : String(error) };
          }
          const transfer: ArrayBuffer[] = [message.tape];
          if (reply.data !== undefined) transfer.push(reply.data.buffer as ArrayBuffer);
          data.reply.postMessage(reply, transfer);
          Atomics.store(flag, 0, message.seq);
          Atomics.notify(flag, 0);
          return;
        }
        case "dispose":
          executor.dispose();
          port.close();
          data.reply.close();
          return;
      }
    });
  });
}

start().then(
  ({ executor, adapter, maxBufferBytes }) => {
    serve(executor);
    const ready: GpuThreadStarted = { type: "ready", adapter, maxBufferBytes };
    port.postMessage(ready);
  },
  (error: unknown) => {
    const failed: GpuThreadStarted = error instanceof StartFailure
      ? { type: "failed", reason: error.reason, message: error.message, adapter: error.adapter }
      : { type: "failed", reason: "kernels", message: error instanceof Error ? error.message : String(error) };
    port.postMessage(failed);
  },
);
