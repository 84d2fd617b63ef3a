import { wrap, type Remote } from "comlink";
import { EventEmitter } from "eventemitter3";
import { Worker, type ResourceLimits } from "node:worker_threads";
import { BackendConfig, type BackendConfigInit } from "./config.js";
import { deserializeError, InferenceError } from "./errors.js";
import { nodeEndpoint } from "./endpoint.js";
import type { ModelAccessor, ModelClass, OpArgs, OpName, OpResult } from "./model.js";
import { isWorkerEvent, type CallReply, type LoadReply, type WorkerApi } from "./protocol.js";
import { BackendState, type BackendEvents } from "./state.js";

/** Load arguments of a model class; a {@link BackendConfig} is accepted wherever plain config data is. */
export type ModelArgs<A> = A | (BackendConfigInit extends A ? BackendConfig : never);

/** Options for the model worker. */
export interface HostOptions {
  /** V8 heap limits of the worker; exceeding them crashes it (WORKER_CRASHED), never the process. */
  resourceLimits?: ResourceLimits;
  /** Thread name shown in diagnostics. */
  name?: string;
}

/** One worker generation: a fresh one per start/reset. */
interface Session {
  readonly worker: Worker;
  readonly remote: Remote<WorkerApi>;
  readonly pending: Set<(error: InferenceError) => void>;
  /** Set when we terminate it on purpose (reset/close), so its exit is not a crash. */
  stopped: InferenceError | undefined;
  crashCause: Error | undefined;
  exited: boolean;
}

const WORKER_URL = new URL("./model-worker.js", import.meta.url);

/**
 * Owns one model worker: starts it, loads the model there, forwards named operations (FIFO, one at a
 * time), and tracks its lifecycle (`state` and `progress` events). A crash fails every pending and future
 * call with WORKER_CRASHED and moves to `Error`; {@link ModelHost.reset} starts a fresh worker.
 * One host can be shared by several inferences (`InferenceBuilder.withModel`).
 */
export class ModelHost<M extends object> extends EventEmitter<BackendEvents> implements ModelAccessor<M> {
  readonly #moduleUrl: string;
  readonly #exportName: string;
  readonly #args: unknown;
  readonly #options: HostOptions;
  #state: BackendState = BackendState.Uninitialized;
  #error: InferenceError | undefined;
  #session: Session | undefined;
  #starting: Promise<void> | undefined;
  #operations: readonly string[] = [];
  #closed = false;
  /** Counts load generations (start/reset); a load whose generation is no longer current was superseded. */
  #generation = 0;

  private constructor(model: { name: string; moduleUrl: string }, args: unknown, options: HostOptions) {
    super();
    this.#moduleUrl = model.moduleUrl;
    this.#exportName = model.name;
    this.#args = args;
    this.#options = { ...options };
  }

  /** Creates a host for `model` with load arguments `args`, not started yet (state Uninitialized). */
  static create<M extends object, A>(model: ModelClass<M, A>, args: ModelArgs<A>, options: HostOptions = {}): ModelHost<M> {
    return new ModelHost<M>(model, args, options);
  }

  /** Creates a host and starts it; resolves once the model is Ready, rejects with MODEL_LOAD (or VALIDATION). */
  static async start<M extends object, A>(model: ModelClass<M, A>, args: ModelArgs<A>, options: HostOptions = {}): Promise<ModelHost<M>> {
    const host = ModelHost.create(model, args, options);
    await host.start();
    return host;
  }

  /** The backend state right now. */
  get state(): BackendState {
    return this.#state;
  }

  /** The error that moved the host to `Error`, if it is there. */
  get error(): InferenceError | undefined {
    return this.#error;
  }

  /** The operation names the loaded model serves. */
  get operations(): readonly string[] {
    return this.#operations;
  }

  /** True once {@link ModelHost.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Makes the model Ready: starts the worker when Uninitialized, waits when Loading (a load started by
   * {@link ModelHost.reset} included), resolves when Ready, rejects with the error that caused `Error`
   * (use {@link ModelHost.reset} to recover).
   */
  async start(): Promise<void> {
    if (this.#closed) throw new InferenceError("NOT_READY", "model host is closed");
    if (this.#state === BackendState.Ready) return;
    if (this.#state === BackendState.Error && this.#error !== undefined) {
      throw new InferenceError(this.#error.code, this.#error.message, { cause: this.#error });
    }
    return this.#starting ?? this.#launch();
  }

  /**
   * Throws away the current worker and loads the model in a fresh one. The state is Loading from the call
   * on (so `start()` waits for the fresh load); pending calls fail with NOT_READY. A load still in flight
   * (even a hung one) is stopped: whoever waits for it gets NOT_READY ("superseded").
   */
  reset(): Promise<void> {
    if (this.#closed) return Promise.reject(new InferenceError("NOT_READY", "model host is closed"));
    return this.#launch();
  }

  /** Runs operation `op` in the worker, after every earlier call. Rejects NOT_READY / WORKER_CRASHED when not Ready. */
  async call<K extends OpName<M>>(op: K, ...args: OpArgs<M, K>): Promise<OpResult<M, K>> {
    const session = this.#session;
    if (this.#closed) throw new InferenceError("NOT_READY", "model host is closed");
    if (this.#state === BackendState.Error && this.#error?.code === "WORKER_CRASHED") {
      throw new InferenceError("WORKER_CRASHED", "model worker crashed; reset() to start a fresh one", { cause: this.#error });
    }
    if (this.#state !== BackendState.Ready || session === undefined) {
      throw new InferenceError("NOT_READY", `model is not ready (state ${this.#state})`);
    }
    let reply: CallReply;
    try {
      reply = await this.#track(session, session.remote.call({ op, args }) as Promise<CallReply>);
    } catch (error) {
      throw callError(error, op);
    }
    if (!reply.ok) throw deserializeError(reply.error);
    return reply.value as OpResult<M, K>;
  }

  /**
   * Terminates the worker (pending calls and a load in flight fail with NOT_READY) and waits until no
   * worker of this host is left; later calls reject with NOT_READY. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#session;
    const starting = this.#starting?.catch(() => undefined);
    if (session !== undefined) await this.#stop(session, new InferenceError("NOT_READY", "model host closed"));
    await starting;
    this.#setState(BackendState.Uninitialized);
  }

  /** Same as {@link ModelHost.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Starts a load generation: validates the load arguments, moves to Loading and sets `#starting`, all
   * synchronously; then stops the current worker (superseding a load in flight) and loads in a fresh one.
   */
  #launch(): Promise<void> {
    let args: unknown;
    try {
      args = this.#args instanceof BackendConfig ? this.#args.validate().toJSON() : this.#args;
    } catch (error) {
      return Promise.reject(error);
    }
    const generation = ++this.#generation;
    const old = this.#session;
    const why = this.#state === BackendState.Loading ? "model load was superseded by reset()" : "model worker was reset";
    const loading: Promise<void> = this.#replace(old, new InferenceError("NOT_READY", why), args, generation).finally(() => {
      if (this.#starting === loading) this.#starting = undefined;
    });
    this.#starting = loading;
    this.#error = undefined;
    this.#setState(BackendState.Loading);
    return loading;
  }

  /** Stops `old` (if any), then loads generation `generation` unless it was superseded or the host closed meanwhile. */
  async #replace(old: Session | undefined, reason: InferenceError, args: unknown, generation: number): Promise<void> {
    if (old !== undefined) await this.#stop(old, reason);
    return this.#load(args, generation);
  }

  async #load(args: unknown, generation: number): Promise<void> {
    if (this.#closed) throw new InferenceError("NOT_READY", "model host is closed");
    if (generation !== this.#generation) throw new InferenceError("NOT_READY", "model load was superseded by reset()");
    const session = this.#spawn();
    try {
      let reply: LoadReply;
      try {
        const request = { moduleUrl: this.#moduleUrl, exportName: this.#exportName, args };
        reply = await this.#track(session, session.remote.load(request) as Promise<LoadReply>);
      } catch (error) {
        // NOT_READY: stopped by reset/close; VALIDATION: unclonable arguments; anything else (a worker that
        // died while loading) is MODEL_LOAD.
        const cause = InferenceError.is(error) ? error : sendError(error, "load arguments");
        if (InferenceError.is(cause, "VALIDATION") || InferenceError.is(cause, "NOT_READY")) throw cause;
        throw new InferenceError("MODEL_LOAD", `loading ${this.#exportName} failed: ${cause.message}`, { cause });
      }
      if (this.#closed) throw new InferenceError("NOT_READY", "model host is closed");
      if (this.#session !== session) throw new InferenceError("NOT_READY", "model load was superseded by reset()");
      if (!reply.ok) throw deserializeError(reply.error);
      this.#operations = Object.freeze([...reply.operations]);
      this.#setState(BackendState.Ready);
    } catch (error) {
      const failure = InferenceError.is(error) ? error : new InferenceError("MODEL_LOAD", String(error), { cause: error });
      if (this.#session === session) await this.#stop(session, failure);
      if (!this.#closed && generation === this.#generation && failure.code !== "NOT_READY") this.#setState(BackendState.Error, failure);
      throw failure;
    }
  }

  #spawn(): Session {
    const worker = new Worker(WORKER_URL, { resourceLimits: this.#options.resourceLimits, name: this.#options.name ?? `actorlm:${this.#exportName}` });
    const session: Session = {
      worker,
      remote: wrap<WorkerApi>(nodeEndpoint(worker, isWorkerEvent)),
      pending: new Set(),
      stopped: undefined,
      crashCause: undefined,
      exited: false,
    };
    worker.on("message", (data: unknown) => {
      if (isWorkerEvent(data) && data.type === "progress" && this.#session === session) this.emit("progress", data.progress);
    });
    worker.on("error", (error: Error) => {
      session.crashCause ??= error;
    });
    worker.on("exit", (code: number) => this.#onExit(session, code));
    this.#session = session;
    return session;
  }

  #onExit(session: Session, code: number): void {
    session.exited = true;
    if (session.stopped !== undefined) return;
    const cause = session.crashCause;
    const why = cause !== undefined ? `${cause.name}: ${cause.message}` : `exit code ${code}`;
    const crash = () => new InferenceError("WORKER_CRASHED", `model worker died (${why})`, cause !== undefined ? { cause } : undefined);
    for (const fail of [...session.pending]) fail(crash());
    session.pending.clear();
    if (this.#session === session && this.#state !== BackendState.Loading) this.#setState(BackendState.Error, crash());
  }

  /** Terminates `session` on purpose: its pending calls fail with `reason`. */
  async #stop(session: Session, reason: InferenceError): Promise<void> {
    if (session.stopped === undefined) session.stopped = reason;
    for (const fail of [...session.pending]) fail(new InferenceError(reason.code, reason.message));
    session.pending.clear();
    if (this.#session === session) this.#session = undefined;
    if (!session.exited) await session.worker.terminate();
  }

  /** Races a comlink call against the death of its worker (comlink itself never rejects then). */
  #track<T>(session: Session, call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (session.exited || session.stopped !== undefined) {
        call.catch(() => undefined);
        const reason = session.stopped ?? new InferenceError("WORKER_CRASHED", "model worker is gone");
        reject(new InferenceError(reason.code, reason.message));
        return;
      }
      const fail = (error: InferenceError) => reject(error);
      session.pending.add(fail);
      call.then(resolve, reject).finally(() => session.pending.delete(fail));
    });
  }

  #setState(state: BackendState, error?: InferenceError): void {
    const previous = this.#state;
    this.#state = state;
    if (state === BackendState.Error) this.#error = error;
    if (state === previous && state !== BackendState.Error) return;
    this.emit("state", error === undefined ? { state, previous } : { state, previous, error });
  }
}

/** A DataCloneError from sending `what` to the worker is VALIDATION; anything else is returned as an Error. */
function sendError(error: unknown, what: string): Error {
  if (error instanceof Error && error.name === "DataCloneError") {
    return new InferenceError("VALIDATION", `${what} must be structured-cloneable: ${error.message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Maps what an operation's comlink call can reject with. The worker never throws through comlink (its
 * errors travel inside the reply), so besides our own InferenceErrors and unsendable arguments, the one
 * rejection left is comlink failing to send the reply back: the operation returned an unclonable value.
 */
function callError(error: unknown, op: string): InferenceError {
  if (InferenceError.is(error)) return error;
  const sent = sendError(error, `arguments of operation "${op}"`);
  if (InferenceError.is(sent)) return sent;
  return new InferenceError("VALIDATION", `operation "${op}" returned a value that is not structured-cloneable`, { cause: error });
}
