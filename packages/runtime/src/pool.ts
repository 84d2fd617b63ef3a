import { Piscina } from "piscina";
import { reasonOf } from "./cancel.js";
import { InferenceError } from "./errors.js";
import { integerOption } from "./options.js";

/** Options of a {@link CpuPool}. */
export interface CpuPoolOptions {
  /** URL or path of the worker module; its default export handles one task. Must be built JS. */
  filename: string | URL;
  /** Threads kept alive (default 1). */
  minThreads?: number;
  /** Most threads (default: the machine's parallelism). */
  maxThreads?: number;
  /** Tasks that may wait for a thread; beyond it `run` rejects with OVERLOADED (default unbounded). */
  maxQueue?: number;
  /** Milliseconds an idle thread lives (default 1000; tests want small values). */
  idleTimeout?: number;
}

/**
 * A pool of worker threads for stateless CPU-heavy work beside the model actor (tokenizing big batches,
 * decoding files): a thin facade over piscina with actorlm's errors. A task's module exports a default
 * `(task) => result`. Rejects with CANCELLED when its signal aborts, OVERLOADED when the queue is full.
 */
export class CpuPool<Task, Result> {
  readonly #pool: Piscina<Task, Result>;
  readonly #maxQueue: number;
  #closed = false;

  /** Creates the pool; throws RangeError/TypeError naming a bad option. */
  constructor(options: CpuPoolOptions) {
    const filename = options.filename instanceof URL ? options.filename.href : options.filename;
    if (typeof filename !== "string" || filename === "") throw new TypeError("filename must be a module URL or path");
    const optional = (name: "minThreads" | "maxThreads" | "maxQueue" | "idleTimeout", min: number): number | undefined => {
      const value = options[name];
      return value === undefined ? undefined : integerOption(name, value, min);
    };
    const minThreads = optional("minThreads", 1) ?? 1;
    const maxThreads = optional("maxThreads", 1);
    this.#maxQueue = optional("maxQueue", 0) ?? Infinity;
    const idleTimeout = optional("idleTimeout", 0) ?? 1000;
    this.#pool = new Piscina<Task, Result>({ filename, minThreads, maxThreads, maxQueue: this.#maxQueue, idleTimeout });
  }

  /** Threads alive right now. */
  get threads(): number {
    return this.#pool.threads.length;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.#pool.queueSize;
  }

  /** Runs one task on a pool thread. */
  async run(task: Task, options: { signal?: AbortSignal } = {}): Promise<Result> {
    if (this.#closed) throw new InferenceError("NOT_READY", "CPU pool is closed");
    const { signal } = options;
    if (signal?.aborted) throw reasonOf(signal);
    // piscina queues a task only while no thread is free, so a queue at maxQueue means this one would wait too.
    if (this.#maxQueue > 0 && this.#pool.queueSize >= this.#maxQueue) {
      throw new InferenceError("OVERLOADED", `CPU pool queue is full (maxQueue ${this.#maxQueue})`);
    }
    try {
      return await this.#pool.run(task, signal === undefined ? {} : { signal });
    } catch (error) {
      if (signal?.aborted) throw reasonOf(signal);
      // With maxQueue 0 only piscina knows whether a thread is free; it refuses with an error that has no code.
      if (this.#maxQueue === 0 && error instanceof Error && /no task queue available/i.test(error.message)) {
        throw new InferenceError("OVERLOADED", "CPU pool has no free thread (maxQueue 0)", { cause: error });
      }
      throw error;
    }
  }

  /** Waits for running tasks, then stops every thread. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.close();
  }

  /** Same as {@link CpuPool.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
