import { EventEmitter } from "eventemitter3";
import type { MessagePort, ResourceLimits } from "node:worker_threads";
import { BackendConfig, type BackendConfigInit } from "./config.js";
import { InferenceError, serializeError } from "./errors.js";
import { signalledAccessor } from "./accessor.js";
import type { ModelAccessor, ModelClass, OpArgs, OpName, OpResult, SharedModel } from "./model.js";
import { OWNER_CALLER, type HostToClientMessage } from "./protocol.js";
import { ClientRelay } from "./relay.js";
import { WorkerSession } from "./session.js";
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

/**
 * Where a host is. Every transition, and the only ones:
 *
 * | from                    | event                          | to             |
 * |-------------------------|--------------------------------|----------------|
 * | uninitialized           | `start()`                      | loading        |
 * | loading                 | the model loaded               | ready          |
 * | loading                 | the load failed, worker died   | error          |
 * | ready                   | the worker died, or its model gave it up (`LoadContext.crash`) | error (WORKER_CRASHED) |
 * | loading, ready, error   | `reset()`                      | loading (a fresh worker; the old one is stopped, a load in flight rejects NOT_READY) |
 * | any                     | `close()`                      | closed         |
 *
 * The public {@link BackendState} is `kind`, with `closed` shown as `uninitialized`.
 */
type Phase =
  | { readonly kind: "uninitialized" }
  | { readonly kind: "loading"; readonly session: WorkerSession; readonly loaded: Promise<void> }
  | { readonly kind: "ready"; readonly session: WorkerSession; readonly operations: readonly string[] }
  | { readonly kind: "error"; readonly error: InferenceError }
  | { readonly kind: "closed" };

/**
 * Owns one model worker: starts it, loads the model there, forwards named operations (FIFO, one at a time), and
 * tracks its lifecycle (`state` and `progress` events). A crash (or a model that gives its worker up after a failure
 * that left it unusable) fails every pending and future call with WORKER_CRASHED and moves to `error`; {@link ModelHost.reset} starts a fresh worker. One host can be shared by
 * several inferences (`InferenceBuilder.withModel`), and by other threads through {@link ModelHost.connect}. An
 * idle worker does not keep the process alive.
 */
export class ModelHost<M extends object> extends EventEmitter<BackendEvents> implements SharedModel<M> {
  readonly #model: ModelClass<object, unknown>;
  readonly #args: unknown;
  readonly #options: HostOptions;
  #phase: Phase = { kind: "uninitialized" };
  readonly #clients = new ClientRelay({
    call: (op, args, signal, caller) => this.#call(op, args, signal, caller),
    disconnect: (caller) => {
      if (this.#phase.kind === "ready") this.#phase.session.disconnect(caller);
    },
  });

  private constructor(model: ModelClass<object, unknown>, args: unknown, options: HostOptions) {
    super();
    this.#model = model;
    this.#args = args;
    this.#options = { ...options };
  }

  /** Creates a host for `model` with load arguments `args`, not started yet (state Uninitialized). */
  static create<M extends object, A>(model: ModelClass<M, A>, args: ModelArgs<A>, options: HostOptions = {}): ModelHost<M> {
    return new ModelHost<M>(model as unknown as ModelClass<object, unknown>, args, options);
  }

  /** Creates a host and starts it; resolves once the model is Ready, rejects with MODEL_LOAD (or VALIDATION). */
  static async start<M extends object, A>(model: ModelClass<M, A>, args: ModelArgs<A>, options: HostOptions = {}): Promise<ModelHost<M>> {
    const host = ModelHost.create(model, args, options);
    await host.start();
    return host;
  }

  /** The backend state right now. */
  get state(): BackendState {
    return this.#phase.kind === "closed" ? BackendState.Uninitialized : this.#phase.kind;
  }

  /** The error that moved the host to `error`, while it is there. */
  get error(): InferenceError | undefined {
    return this.#phase.kind === "error" ? this.#phase.error : undefined;
  }

  /** The operation names the loaded model serves (empty unless Ready). */
  get operations(): readonly string[] {
    return this.#phase.kind === "ready" ? this.#phase.operations : [];
  }

  /** True once {@link ModelHost.close} was called. */
  get closed(): boolean {
    return this.#phase.kind === "closed";
  }

  /**
   * Makes the model Ready: starts the worker when Uninitialized, waits when Loading (a load started by
   * {@link ModelHost.reset} included), resolves when Ready, rejects with the error that caused `error` (use
   * {@link ModelHost.reset} to recover). Invalid load arguments reject with VALIDATION before any worker starts.
   */
  async start(): Promise<void> {
    const phase = this.#phase;
    switch (phase.kind) {
      case "closed":
        throw closedError();
      case "ready":
        return;
      case "error":
        throw new InferenceError(phase.error.code, phase.error.message, { cause: phase.error, field: phase.error.field, file: phase.error.file });
      case "loading":
        return phase.loaded;
      case "uninitialized":
        return this.#launch();
    }
  }

  /**
   * Throws away the current worker and loads the model in a fresh one. The state is `loading` from the call on
   * (so `start()` waits for the fresh load); pending calls fail with NOT_READY. A load still in flight (even a
   * hung one) is stopped: whoever waits for it gets NOT_READY.
   */
  reset(): Promise<void> {
    if (this.#phase.kind === "closed") return Promise.reject(closedError());
    return this.#launch();
  }

  /** Runs operation `op` in the worker, after every earlier call. Rejects NOT_READY / WORKER_CRASHED when not Ready. */
  call<K extends OpName<M>>(op: K, ...args: OpArgs<M, K>): Promise<OpResult<M, K>> {
    return this.#call(op, args, undefined, OWNER_CALLER) as Promise<OpResult<M, K>>;
  }

  /** A view whose calls carry `signal`: when it aborts, those still queued in the worker leave the queue (CANCELLED). */
  withSignal(signal: AbortSignal): ModelAccessor<M> {
    return signalledAccessor<M>((op, args, s) => this.#call(op, args, s, OWNER_CALLER), () => this.state, signal);
  }

  /**
   * A handle to this host for another thread: transfer the returned port (`postMessage(port, [port])`, a piscina
   * task's `transferList`, `workerData`) and call `ModelClient.connect(port)` there. The client's calls share this
   * host's one model worker and its FIFO; it follows this host's state (WORKER_CRASHED after a crash, working again
   * after `reset()`, NOT_READY once this host is closed). When the client closes or its thread exits, the model
   * frees what its requests held; the model itself stays. Throws NOT_READY once the host is closed.
   */
  connect(): MessagePort {
    if (this.#phase.kind === "closed") throw closedError();
    const error = this.error;
    return this.#clients.connect([{ type: "state", state: this.state, ...(error === undefined ? {} : { error: serializeError(error) }) }]);
  }

  /** Clients connected now (see {@link ModelHost.connect}). */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Terminates the worker (pending calls and a load in flight fail with NOT_READY) and waits until no worker of
   * this host is left; later calls reject with NOT_READY. Idempotent.
   */
  async close(): Promise<void> {
    const phase = this.#phase;
    if (phase.kind === "closed") return;
    this.#enter({ kind: "closed" });
    this.#clients.closeAll();
    if (phase.kind === "loading" || phase.kind === "ready") await phase.session.stop(new InferenceError("NOT_READY", "model host closed"));
    if (phase.kind === "loading") await phase.loaded.catch(() => undefined);
  }

  /** Same as {@link ModelHost.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #call(op: string, args: readonly unknown[], signal: AbortSignal | undefined, caller: number): Promise<unknown> {
    const phase = this.#phase;
    if (phase.kind === "ready") {
      if (!phase.operations.includes(op)) return Promise.reject(new InferenceError("VALIDATION", `unknown model operation "${op}"`));
      return phase.session.call(op, args, signal, caller);
    }
    if (phase.kind === "closed") return Promise.reject(closedError());
    if (phase.kind === "error" && phase.error.code === "WORKER_CRASHED") {
      return Promise.reject(new InferenceError("WORKER_CRASHED", "model worker crashed; reset() to start a fresh one", { cause: phase.error }));
    }
    return Promise.reject(new InferenceError("NOT_READY", `model is not ready (state ${this.state})`));
  }

  /**
   * uninitialized / loading / ready / error → loading: validates the load arguments (VALIDATION, state unchanged),
   * then synchronously enters `loading` with a fresh session; the old worker is stopped first, and the fresh one
   * loads only if nothing superseded it meanwhile.
   */
  #launch(): Promise<void> {
    let args: unknown;
    try {
      args = this.#args instanceof BackendConfig ? this.#args.validate().toJSON() : this.#args;
      this.#model.validateArgs?.(args);
    } catch (error) {
      return Promise.reject(error);
    }
    const old = this.#phase;
    const session = new WorkerSession({
      resourceLimits: this.#options.resourceLimits,
      name: this.#options.name ?? `actorlm:${this.#model.name}`,
      onProgress: (progress) => {
        if (!this.#current(session)) return;
        this.emit("progress", progress);
        this.#clients.broadcast({ type: "progress", progress });
      },
      onCrash: (error) => {
        if (this.#phase.kind === "ready" && this.#phase.session === session) this.#enter({ kind: "error", error });
      },
    });
    const loaded = this.#load(old, session, args);
    loaded.catch(() => undefined);
    this.#enter({ kind: "loading", session, loaded });
    return loaded;
  }

  async #load(old: Phase, session: WorkerSession, args: unknown): Promise<void> {
    if (old.kind === "loading" || old.kind === "ready") {
      const why = old.kind === "loading" ? "model load was superseded by reset()" : "model worker was reset";
      await old.session.stop(new InferenceError("NOT_READY", why));
    }
    let operations: readonly string[];
    try {
      operations = await session.load({ moduleUrl: this.#model.moduleUrl, exportName: this.#model.name, args });
    } catch (error) {
      const failure = loadFailure(error, this.#model.name);
      if (this.#current(session)) {
        await session.stop(failure);
        if (this.#current(session)) this.#enter({ kind: "error", error: failure });
      }
      throw failure;
    }
    if (!this.#current(session)) throw new InferenceError("NOT_READY", this.closed ? "model host is closed" : "model load was superseded by reset()");
    this.#enter({ kind: "ready", session, operations: Object.freeze([...operations]) });
  }

  /** True while `session` is the one the host is loading or serving from. */
  #current(session: WorkerSession): boolean {
    return (this.#phase.kind === "loading" || this.#phase.kind === "ready") && this.#phase.session === session;
  }

  /** Moves to `next`; emits `state` when the public state changes. */
  #enter(next: Phase): void {
    const previous = this.state;
    this.#phase = next;
    const state = this.state;
    if (state === previous) return;
    this.emit("state", next.kind === "error" ? { state, previous, error: next.error } : { state, previous });
    const message: HostToClientMessage = next.kind === "error" ? { type: "state", state, error: serializeError(next.error) } : { type: "state", state };
    this.#clients.broadcast(message);
  }
}

/** How a failed load is reported: NOT_READY (stopped by reset/close) and VALIDATION (unclonable arguments) as they are, anything else as MODEL_LOAD. */
function loadFailure(error: unknown, exportName: string): InferenceError {
  if (InferenceError.is(error, "MODEL_LOAD") || InferenceError.is(error, "NOT_READY") || InferenceError.is(error, "VALIDATION")) return error;
  const cause = error instanceof Error ? error : new Error(String(error));
  return new InferenceError("MODEL_LOAD", `loading ${exportName} failed: ${cause.message}`, { cause });
}

function closedError(): InferenceError {
  return new InferenceError("NOT_READY", "model host is closed");
}
