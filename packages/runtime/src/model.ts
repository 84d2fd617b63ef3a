import type { EventEmitter } from "eventemitter3";
import type { BackendEvents, BackendState, LoadProgress } from "./state.js";

/** Handed to a model's `load` inside the worker; `progress` reports to the host (and its `progress` event). */
export interface LoadContext {
  /** Reports load progress to the host. */
  progress(p: LoadProgress): void;
  /**
   * Who asked for the operation running now: 0 for the host's own thread, another number per connected client
   * (`ModelHost.connect()`). A model that keeps state per request can note it, to free it in `onDisconnect`.
   */
  readonly caller: number;
  /**
   * Registers `fn` to run when a client is gone (it closed, or its thread exited), queued after every operation
   * it sent, like an operation itself: free what `caller` held (its KV slots, say). The model stays loaded.
   */
  onDisconnect(fn: (caller: number) => void): void;
  /**
   * Queues `task` behind every operation queued now, as an operation of the model's own (no caller can cancel it):
   * how a model runs background work between its callers' operations, in the same FIFO (a scheduler's step, say).
   * A task that throws is ignored: report failures through the work it serves.
   */
  enqueue(task: () => void): void;
  /**
   * Makes the operation running now answer later without holding the queue: call it synchronously inside the
   * operation and return what it returns. `wait` gets the call's signal and returns the reply; the queue moves on
   * to the next operation at once, and the caller gets the reply when it settles. The signal aborts (with the
   * caller's CANCELLED) when the caller cancels the call while it waits; `wait` should then settle soon.
   */
  detach<T>(wait: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /**
   * Gives this worker up: `error` left the model unusable (a backend failure after which its memory is in an unknown
   * state). The host handles it as the worker's death: every pending and later call fails with WORKER_CRASHED
   * (`error` as the cause), the state moves to `error`, the worker is terminated, and a supervisor (or `reset()`)
   * loads the model in a fresh one. Fail what the model holds with `error` before calling it.
   */
  crash(error: unknown): void;
}

/**
 * A model class the runtime can host in its worker. The worker imports `moduleUrl`, takes the export
 * named `name`, calls `load(args, ctx)` there (args must be structured-cloneable), and then serves the
 * returned object's methods as named operations.
 */
export interface ModelClass<M extends object, A> {
  /** The export name looked up in `moduleUrl` (the class name; tsup keeps names). */
  readonly name: string;
  /** URL of the ES module exporting the class, usually `static readonly moduleUrl = import.meta.url`. */
  readonly moduleUrl: string;
  /** Static factory, run inside the worker. */
  load(args: A, ctx: LoadContext): M | Promise<M>;
  /**
   * Optional: checks load arguments on the caller's thread before any worker starts, throwing InferenceError
   * VALIDATION that names the bad field; the host then refuses `start()` / `reset()` with it.
   */
  validateArgs?(args: unknown): void;
}

type AnyFunction = (...args: never[]) => unknown;

/** Names of a model's operations: the keys whose values are functions. */
export type OpName<M> = { [K in keyof M]-?: M[K] extends AnyFunction ? K : never }[keyof M] & string;

/** Parameter tuple of operation `K`. */
export type OpArgs<M, K extends keyof M> = M[K] extends (...args: infer P) => unknown ? P : never;

/** Resolved result of operation `K`. */
export type OpResult<M, K extends keyof M> = M[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Typed access to a model living in the worker: each call runs one named operation there, one at a time. */
export interface ModelAccessor<M extends object> {
  /** Runs operation `op` with `args` (structured-cloneable) in the model worker; FIFO with every other call. */
  call<K extends OpName<M>>(op: K, ...args: OpArgs<M, K>): Promise<OpResult<M, K>>;
  /**
   * The same accessor with `signal` attached to its calls: when it aborts, a call still waiting in the worker's
   * queue leaves it and rejects with CANCELLED; a running one finishes and settles with its own outcome (so a
   * handler still learns, say, the id of a sequence it must free).
   */
  withSignal(signal: AbortSignal): ModelAccessor<M>;
  /** The backend state right now. */
  readonly state: BackendState;
}

/**
 * A model that inferences can share (`InferenceBuilder.withModel`): a {@link ModelHost} on the thread that owns
 * the model worker, or a `ModelClient` on any other thread (see `ModelHost.connect()`).
 */
export interface SharedModel<M extends object> extends ModelAccessor<M>, Pick<EventEmitter<BackendEvents>, "on" | "off"> {
  /** Resolves once the model is Ready; rejects with the error that keeps it from being so (NOT_READY once closed). */
  start(): Promise<void>;
  /** Loads the model in a fresh worker (only the owner of the host may). */
  reset(): Promise<void>;
  /** Closes it: a host terminates its worker; a client leaves its host (the model stays). */
  close(): Promise<void>;
  /** True once closed (a client: once it or its host closed). */
  readonly closed: boolean;
}
