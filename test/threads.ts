// Test threads (real worker_threads) that hold a ModelClient and answer commands (see test/fixtures/threads/rpc.mjs).
import { Worker, type MessagePort } from "node:worker_threads";
import { InferenceError, type ErrorCode } from "@actorlm/runtime";

type Reply = { seq: number; ok: true; value: unknown } | { seq: number; ok: false; error: { name?: string; code?: ErrorCode; field?: string; file?: string; message: string } };

/** A worker thread running `fixture` with a host's client port as `workerData.port`. */
export class TestThread {
  readonly worker: Worker;
  readonly exited: Promise<number>;
  readonly #replies = new Map<number, (reply: Reply) => void>();
  #seq = 0;

  /** Starts `fixture` (a URL) with `port` transferred to it. */
  constructor(fixture: URL, port: MessagePort, data: Record<string, unknown> = {}) {
    this.worker = new Worker(fixture, { workerData: { ...data, port }, transferList: [port] });
    this.worker.on("message", (reply: Reply) => {
      this.#replies.get(reply.seq)?.(reply);
      this.#replies.delete(reply.seq);
    });
    this.exited = new Promise((resolve) => this.worker.once("exit", resolve));
  }

  /** Sends a command and resolves with its value; rejects with an InferenceError of the thread's code (field, file kept). */
  ask<T = unknown>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const seq = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#replies.set(seq, (reply) => {
        if (reply.ok) resolve(reply.value as T);
        else {
          const { code, field, file, message, name } = reply.error;
          const error = code === undefined ? new Error(message) : new InferenceError(code, message, { field, file });
          if (name !== undefined) error.name = name;
          reject(error);
        }
      });
      this.worker.postMessage({ seq, cmd, ...args });
    });
  }

  /** Stops the thread and waits until it is gone. */
  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
