import { Piscina } from "piscina";
import { cancelledError, InferenceError } from "./errors.js";

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
  #closed = false;

  /** Creates the pool; throws RangeError/TypeError naming a bad option. */
  constructor(options: CpuPoolOptions) {
    const filename = options.filename instanceof URL ? options.filename.href : options.filename;
    if (typeof filename !== "string" || filename === "") throw new TypeError("filename must be a module URL or path");
    for (const key of ["minThreads", "maxThreads", "maxQueue", "idleTimeout"] as const) {
      const value = options[key];
      const min = key === "idleTimeout" || key === "maxQueue" ? 0 : 1;
      if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new RangeError(`${key} must be an integer ≥ ${min}, got ${value}`);
    }
    this.#pool = new Piscina<Task, Result>({
      filename,
      minThreads: options.minThreads ?? 1,
      maxThreads: options.maxThreads,
      maxQueue: options.maxQueue ?? Infinity,
      idleTimeout: options.idleTimeout ?? 1000,
    });
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
    if (signal?.aborted) throw cancelledError(signal.reason);
    try {
      return await this.#pool.run(task, signal === undefined ? {} : { signal });
    } catch (error) {
      if (signal?.aborted) throw cancelledError(signal.reason);
      if (error instanceof Error && /queue is at limit/i.test(error.message)) {
        throw new InferenceError("OVERLOADED", "CPU pool queue is full", { cause: error });
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
