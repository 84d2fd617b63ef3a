/**
 * One model worker, seen from the host's thread: spawns it on `load()`, sends calls and cancellations, matches
 * replies to calls, and notices its death. The worker keeps the process alive only while a load or a call is
 * pending: an idle model never stops a script from exiting.
 */
import { Worker, type ResourceLimits } from "node:worker_threads";
import { reasonOf } from "./cancel.js";
import { deserializeError, InferenceError } from "./errors.js";
import { OWNER_CALLER, type HostMessage, type LoadMessage, type WorkerMessage } from "./protocol.js";
import type { LoadProgress } from "./state.js";

const WORKER_URL = new URL("./model-worker.js", import.meta.url);

/** What a session needs from its host. */
export interface SessionOptions {
  /** V8 heap limits of the worker; exceeding them crashes it (WORKER_CRASHED), never the process. */
  readonly resourceLimits?: ResourceLimits;
  /** Thread name shown in diagnostics. */
  readonly name: string;
  /** Load progress reported by the model. */
  readonly onProgress: (progress: LoadProgress) => void;
  /**
   * The worker died on its own, or its model gave it up (`LoadContext.crash`), not through `stop`: every pending call
   * already failed with `error`.
   */
  readonly onCrash: (error: InferenceError) => void;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** A model worker's lifetime: not started → running → ended (stopped on purpose, or crashed). */
export class WorkerSession {
  readonly #options: SessionOptions;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #load: { resolve: (operations: readonly string[]) => void; reject: (error: InferenceError) => void } | undefined;
  /** Why the session ended; every later call rejects with a copy. */
  #ended: InferenceError | undefined;
  #crashCause: Error | undefined;
  #exited: Promise<void> | undefined;
  #nextId = 1;

  /** Creates a session; no thread starts before {@link WorkerSession.load}. */
  constructor(options: SessionOptions) {
    this.#options = options;
  }

  /** Starts the worker and loads the model there; resolves with its operation names. */
  load(request: Omit<LoadMessage, "type">): Promise<readonly string[]> {
    if (this.#ended !== undefined) return Promise.reject(copy(this.#ended));
    if (this.#worker !== undefined) return Promise.reject(new InferenceError("MODEL_LOAD", "this session already loaded a model"));
    const worker = new Worker(WORKER_URL, { resourceLimits: this.#options.resourceLimits, name: this.#options.name });
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (message: WorkerMessage) => this.#receive(message));
    worker.on("error", (error: Error) => {
      this.#crashCause ??= error;
    });
    worker.on("exit", (code: number) => this.#onExit(code));
    return new Promise<readonly string[]>((resolve, reject) => {
      this.#load = { resolve, reject };
      this.#send({ type: "load", ...request }, (error) => {
        this.#load = undefined;
        reject(sendError(error, "load arguments"));
      });
      this.#updateRef();
    });
  }

  /**
   * Runs operation `op` in the worker after every call sent before it. When `signal` aborts while the call still
   * waits in the worker's queue, it leaves the queue and rejects with the signal's CANCELLED; once running, it
   * finishes and settles with its own outcome. `caller` says who asked (the model sees it as `LoadContext.caller`).
   */
  call(op: string, args: readonly unknown[], signal?: AbortSignal, caller = OWNER_CALLER): Promise<unknown> {
    if (this.#ended !== undefined) return Promise.reject(copy(this.#ended));
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = () => this.#send({ type: "cancel", id }, () => undefined);
      this.#pending.set(id, { resolve, reject, signal, onAbort });
      const sent = this.#send({ type: "call", id, caller, op, args }, (error) => {
        this.#pending.delete(id);
        reject(sendError(error, `arguments of operation "${op}"`));
      });
      if (sent) signal?.addEventListener("abort", onAbort, { once: true });
      this.#updateRef();
    });
  }

  /** Tells the worker that client `caller` is gone: its disconnect listeners run after every call queued before. */
  disconnect(caller: number): void {
    if (this.#ended === undefined) this.#send({ type: "disconnect", caller }, () => undefined);
  }

  /** Ends the session on purpose: pending calls (and a load in flight) fail with `reason`; resolves once the thread is gone. */
  async stop(reason: InferenceError): Promise<void> {
    this.#end(reason);
    const worker = this.#worker;
    if (worker === undefined) return;
    await worker.terminate();
    await this.#exited;
  }

  #receive(message: WorkerMessage): void {
    switch (message.type) {
      case "progress":
        if (this.#ended === undefined) this.#options.onProgress(message.progress);
        return;
      case "loaded": {
        const load = this.#load;
        this.#load = undefined;
        if (message.ok) load?.resolve(message.operations);
        else load?.reject(deserializeError(message.error) as InferenceError);
        this.#updateRef();
        return;
      }
      case "fatal": {
        // the model gave up: end now, so no later call reaches it, then take the thread down
        if (this.#ended !== undefined) return;
        const cause = deserializeError(message.error);
        const crash = new InferenceError("WORKER_CRASHED", cause.message, { cause });
        this.#end(crash);
        void this.#worker?.terminate();
        this.#options.onCrash(crash);
        return;
      }
      case "result": {
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        pending.signal?.removeEventListener("abort", pending.onAbort);
        if (message.ok) pending.resolve(message.value);
        else {
          const error = deserializeError(message.error);
          // A call dropped from the queue reports the job's own cancellation, as every other CANCELLED does.
          pending.reject(InferenceError.is(error, "CANCELLED") && pending.signal?.aborted ? reasonOf(pending.signal) : error);
        }
        this.#updateRef();
        return;
      }
    }
  }

  #onExit(code: number): void {
    if (this.#ended !== undefined) return;
    const cause = this.#crashCause;
    const why = cause !== undefined ? `${cause.name}: ${cause.message}` : `exit code ${code}`;
    const crash = new InferenceError("WORKER_CRASHED", `model worker died (${why})`, cause !== undefined ? { cause } : {});
    this.#end(crash);
    this.#options.onCrash(crash);
  }

  /** Marks the session ended with `reason` and fails everything pending with a copy of it. */
  #end(reason: InferenceError): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    this.#load?.reject(copy(reason));
    this.#load = undefined;
    for (const pending of this.#pending.values()) {
      pending.signal?.removeEventListener("abort", pending.onAbort);
      pending.reject(copy(reason));
    }
    this.#pending.clear();
    this.#worker?.unref();
  }

  /** Posts `message`; on failure (unclonable data) calls `fail` and returns false. */
  #send(message: HostMessage, fail: (error: unknown) => void): boolean {
    try {
      this.#worker?.postMessage(message);
      return true;
    } catch (error) {
      fail(error);
      return false;
    }
  }

  /** Keeps the process alive while a load or a call is pending, and only then. */
  #updateRef(): void {
    const worker = this.#worker;
    if (worker === undefined || this.#ended !== undefined) return;
    if (this.#load !== undefined || this.#pending.size > 0) worker.ref();
    else worker.unref();
  }
}

/** A fresh error with the same code and message (each caller gets its own object). */
function copy(error: InferenceError): InferenceError {
  return new InferenceError(error.code, error.message, { cause: error.cause });
}

/** A DataCloneError from sending `what` to the worker is VALIDATION; anything else is returned as it is. */
function sendError(error: unknown, what: string): InferenceError {
  if (error instanceof Error && error.name === "DataCloneError") {
    return new InferenceError("VALIDATION", `${what} must be structured-cloneable: ${error.message}`, { cause: error });
  }
  return InferenceError.is(error) ? error : new InferenceError("VALIDATION", `cannot send ${what}: ${String(error)}`, { cause: error });
}
