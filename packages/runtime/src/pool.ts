import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import type { Transferable } from "node:worker_threads";
import { Piscina } from "piscina";
import { reasonOf } from "./cancel.js";
import { deserializeError, InferenceError } from "./errors.js";
import { integerOption } from "./options.js";
import type { PoolReply, PoolTask } from "./protocol.js";

const POOL_WORKER_URL = new URL("./pool-worker.js", import.meta.url).href;

/** Options of a {@link CpuPool}. */
export interface CpuPoolOptions {
  /** URL or absolute path of the task module; its default export handles one task. Must be built JS. */
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
 * `(task) => result`. Every rejection is an InferenceError: CANCELLED when its signal aborts (a queued task
 * leaves the queue), OVERLOADED when the queue is full, NOT_READY once closed, the task's own code when it threw
 * an InferenceError (field and file kept), and HANDLER_FAILED with the thrown value as `cause` otherwise.
 * Idle threads never keep the process alive.
 */
export class CpuPool<Task, Result> {
  readonly #pool: Piscina<PoolTask, PoolReply>;
  readonly #module: string;
  readonly #maxQueue: number;
  #closed = false;

  /** Creates the pool; throws RangeError/TypeError naming a bad option. */
  constructor(options: CpuPoolOptions) {
    this.#module = moduleUrl(options.filename);
    const optional = (name: "minThreads" | "maxThreads" | "maxQueue" | "idleTimeout", min: number): number | undefined => {
      const value = options[name];
      return value === undefined ? undefined : integerOption(name, value, min);
    };
    const minThreads = optional("minThreads", 1) ?? 1;
    const maxThreads = optional("maxThreads", 1);
    this.#maxQueue = optional("maxQueue", 0) ?? Infinity;
    const idleTimeout = optional("idleTimeout", 0) ?? 1000;
    this.#pool = new Piscina<PoolTask, PoolReply>({ filename: POOL_WORKER_URL, minThreads, maxThreads, maxQueue: this.#maxQueue, idleTimeout });
  }

  /** Threads alive right now. */
  get threads(): number {
    return this.#pool.threads.length;
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.#pool.queueSize;
  }

  /**
   * Runs one task on a pool thread. `transfer` lists what the task moves to that thread instead of copying (a
   * MessagePort such as `ModelHost.connect()` returns, an ArrayBuffer).
   */
  async run(task: Task, options: { signal?: AbortSignal; transfer?: readonly Transferable[] } = {}): Promise<Result> {
    if (this.#closed) throw new InferenceError("NOT_READY", "CPU pool is closed");
    const { signal } = options;
    if (signal?.aborted) throw reasonOf(signal);
    // piscina queues a task only while no thread is free, so a queue at maxQueue means this one would wait too.
    if (this.#maxQueue > 0 && this.#pool.queueSize >= this.#maxQueue) {
      throw new InferenceError("OVERLOADED", `CPU pool queue is full (maxQueue ${this.#maxQueue})`);
    }
    let reply: PoolReply;
    try {
      const transferList = options.transfer === undefined ? undefined : [...options.transfer];
      reply = await this.#pool.run({ module: this.#module, task }, { ...(signal === undefined ? {} : { signal }), ...(transferList === undefined ? {} : { transferList }) });
    } catch (error) {
      if (signal?.aborted) throw reasonOf(signal);
      // With maxQueue 0 only piscina knows whether a thread is free; it refuses with an error that has no code.
      if (this.#maxQueue === 0 && error instanceof Error && /no task queue available/i.test(error.message)) {
        throw new InferenceError("OVERLOADED", "CPU pool has no free thread (maxQueue 0)", { cause: error });
      }
      if (this.#closed) throw new InferenceError("NOT_READY", "CPU pool is closed", { cause: error });
      throw failed(error);
    }
    if (!reply.ok) throw failed(deserializeError(reply.error));
    return reply.value as Result;
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

/** `filename` as a module URL; TypeError unless it is a URL or an absolute path. */
function moduleUrl(filename: unknown): string {
  if (filename instanceof URL) return filename.href;
  if (typeof filename !== "string" || filename === "") throw new TypeError("filename must be a module URL or an absolute path");
  if (isAbsolute(filename)) return pathToFileURL(filename).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(filename)) return filename;
  throw new TypeError(`filename must be a module URL or an absolute path, got ${JSON.stringify(filename)}`);
}

/** A task's error: an InferenceError as it is, anything else HANDLER_FAILED with it as the cause. */
function failed(error: unknown): InferenceError {
  if (InferenceError.is(error)) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new InferenceError("HANDLER_FAILED", `CPU pool task failed: ${message}`, { cause: error });
}
