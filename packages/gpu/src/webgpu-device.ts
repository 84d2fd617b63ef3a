/**
 * The WebGPU device as the gpu backend sees it on the model's thread: a GPU thread (gpu-thread.ts) owns the device,
 * commands go to it in order, and a run blocks this thread (Atomics.wait) until the thread has submitted the tape,
 * mapped the range read and answered — the Kernels interface reads synchronously, WebGPU does not.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { AdapterInfo, GpuDevice, ReadRange } from "./device.js";
import type { AdapterChoice, GpuFailure, GpuThreadData, GpuThreadStarted, ProbeResult, RunReply, ToGpuThread } from "./protocol.js";
import type { Tape } from "./tape.js";

export type { AdapterChoice } from "./protocol.js";

/** Longest wait for one run before the GPU thread is taken for dead. */
const RUN_TIMEOUT_MS = 10 * 60_000;

/** No usable WebGPU device: no Dawn, no adapter, only a software adapter, or kernels that failed to build. */
export class GpuUnavailableError extends Error {
  /** Error catalogue code shared with the runtime. */
  readonly code = "MODEL_LOAD" as const;
  override readonly name = "GpuUnavailableError";

  /** An error saying why, with the adapter found (if any). */
  constructor(readonly reason: GpuFailure, message: string, readonly adapter?: AdapterInfo) {
    super(message);
  }
}

/** Runs the probe (probe.ts) in a child process; GpuUnavailableError, saying why, unless it found an adapter. */
async function probe(choice: AdapterChoice): Promise<void> {
  const script = fileURLToPath(new URL("./gpu-probe.js", import.meta.url));
  const args = "Deno" in globalThis ? ["run", "--allow-all", script, choice] : [script, choice];
  const result = await new Promise<ProbeResult>((resolve) => {
    execFile(process.execPath, args, { timeout: 120_000, maxBuffer: 1 << 20 }, (error, stdout) => {
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as ProbeResult);
      } catch {
        const why = error === null ? "it printed no result" : error.message.split("\n")[0];
        resolve({ type: "failed", reason: "no-webgpu", message: `looking for a WebGPU adapter failed (${why})` });
      }
    });
  });
  if (result.type === "failed") {
    throw new GpuUnavailableError(result.reason, `${result.message} (verbose: true, --verbose on the command line, shows what Dawn printed)`, result.adapter);
  }
}

/** The model thread's handle on the GPU thread. */
export class WebGpuDevice implements GpuDevice {
  readonly mode = "webgpu" as const;
  readonly adapter: AdapterInfo;
  readonly maxBufferBytes: number;
  readonly #worker: Worker;
  readonly #flag: Int32Array;
  readonly #replies: MessagePort;
  #seq = 0;
  #broken: Error | undefined;

  private constructor(worker: Worker, flag: Int32Array, replies: MessagePort, adapter: AdapterInfo, maxBufferBytes: number) {
    this.#worker = worker;
    this.#flag = flag;
    this.#replies = replies;
    this.adapter = adapter;
    this.maxBufferBytes = maxBufferBytes;
  }

  /**
   * Starts the GPU thread and waits until its device and kernels are ready; rejects with GpuUnavailableError. Unless
   * `verbose`, a probe in a child process looks for the adapter first, so what Dawn prints on a machine with no
   * usable GPU is never shown; `verbose` skips it, and Dawn's messages reach this process's stderr.
   */
  static async create(choice: AdapterChoice, verbose = false): Promise<WebGpuDevice> {
    if (!verbose) await probe(choice);
    const flag = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    const data: GpuThreadData = { choice, flag, reply: port2 };
    const worker = new Worker(new URL("./gpu-thread.js", import.meta.url), { workerData: data, transferList: [port2], name: "actorlm:gpu" });
    let started: GpuThreadStarted;
    try {
      started = await new Promise<GpuThreadStarted>((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`the GPU thread exited (code ${code}) before it started`)));
      });
    } catch (error) {
      await worker.terminate();
      port1.close();
      throw new GpuUnavailableError("no-webgpu", error instanceof Error ? error.message : String(error));
    }
    worker.removeAllListeners("exit");
    worker.removeAllListeners("error");
    if (started.type === "failed") {
      await worker.terminate();
      port1.close();
      throw new GpuUnavailableError(started.reason, started.message, started.adapter);
    }
    worker.unref();
    return new WebGpuDevice(worker, new Int32Array(flag), port1, started.adapter, started.maxBufferBytes);
  }

  createBuffer(id: number, bytes: number): void {
    this.#send({ type: "create", id, bytes });
  }

  writeBuffer(id: number, byteOffset: number, data: Uint8Array): void {
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    const copy = owned ? data : data.slice();
    this.#send({ type: "write", id, byteOffset, data: copy }, [copy.buffer as ArrayBuffer]);
  }

  destroyBuffer(id: number): void {
    this.#send({ type: "destroy", id });
  }

  /** Sends the tape and waits for the GPU thread's answer; throws the device's error, naming it, when the run failed. */
  run(tape: Tape, read?: ReadRange): Float32Array | undefined {
    this.#usable();
    const seq = ++this.#seq, buffer = tape.buffer;
    this.#send({ type: "run", seq, tape: buffer, length: tape.length, read }, [buffer]);
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    while (Atomics.load(this.#flag, 0) < seq) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#broken = new Error(`the GPU thread did not answer within ${RUN_TIMEOUT_MS / 1000} s`);
        tape.reset(new ArrayBuffer(1 << 16));
        throw this.#broken;
      }
      Atomics.wait(this.#flag, 0, seq - 1, Math.min(left, 1000));
    }
    let reply = receiveMessageOnPort(this.#replies)?.message as RunReply | undefined;
    for (let spin = 0; reply === undefined && spin < 1000; spin++) {     // the answer is posted before the flag is raised
      Atomics.wait(this.#flag, 0, seq, 1);
      reply = receiveMessageOnPort(this.#replies)?.message as RunReply | undefined;
    }
    if (reply === undefined || reply.seq !== seq) {
      this.#broken = new Error(`the GPU thread's answer to run ${seq} went missing`);
      throw this.#broken;
    }
    tape.reset(reply.tape);
    if (reply.error !== undefined) throw new Error(`gpu backend: ${reply.error}`);
    return reply.data;
  }

  async dispose(): Promise<void> {
    if (this.#broken === undefined) this.#send({ type: "dispose" });
    this.#broken ??= new Error("the gpu backend was disposed");
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<void>((resolve) => this.#worker.once("exit", () => resolve()));
    const late = new Promise<void>((resolve) => (timer = setTimeout(() => void this.#worker.terminate().then(() => resolve()), 2000)));
    await Promise.race([exited, late]);
    clearTimeout(timer);
    this.#replies.close();
  }

  #send(message: ToGpuThread, transfer: ArrayBuffer[] = []): void {
    this.#usable();
    this.#worker.postMessage(message, transfer);
  }

  #usable(): void {
    if (this.#broken !== undefined) throw this.#broken;
  }
}
