/**
 * A model host's client on another thread: `ModelClient.connect(port)` with the port `ModelHost.connect()` gave.
 * It offers what a host offers handlers (`call`, `withSignal`, `state`, `state` / `progress` events), so an
 * inference can be built on it (`InferenceBuilder.withModel(client)`); its calls join the host's in the one
 * model worker's FIFO, and their errors keep their codes across the extra hop.
 */
import { EventEmitter } from "eventemitter3";
import type { MessagePort } from "node:worker_threads";
import { reasonOf } from "./cancel.js";
import { deserializeError, InferenceError } from "./errors.js";
import { signalledAccessor } from "./accessor.js";
import type { ModelAccessor, OpArgs, OpName, OpResult, SharedModel } from "./model.js";
import type { ClientMessage, HostToClientMessage } from "./protocol.js";
import { BackendState, type BackendEvents } from "./state.js";

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Where the client is: connected, closed by itself, or cut off because the host closed (or its thread is gone). */
type Link = { readonly kind: "open" } | { readonly kind: "closed"; readonly error: InferenceError };

/**
 * A handle to a model host owned by another thread. Crashes surface as WORKER_CRASHED and calls work again once
 * the owner resets the host; the owner closing the host makes every call NOT_READY. Closing the client (or its
 * thread exiting) frees what its requests held in the model (their KV slots) and never closes the model. It keeps
 * its thread alive only while a call or `start()` is pending.
 */
export class ModelClient<M extends object> extends EventEmitter<BackendEvents> implements SharedModel<M> {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  #state: BackendState = BackendState.Uninitialized;
  #error: InferenceError | undefined;
  #link: Link = { kind: "open" };
  #nextId = 1;

  private constructor(port: MessagePort) {
    super();
    this.#port = port;
    port.on("message", (message: HostToClientMessage) => this.#receive(message));
    port.on("close", () => this.#cut(new InferenceError("NOT_READY", "model host closed")));
    this.#updateRef();
  }

  /** Turns the port a host's `connect()` returned (transferred to this thread) into a client. */
  static connect<M extends object>(port: MessagePort): ModelClient<M> {
    if (typeof port !== "object" || port === null || typeof (port as { postMessage?: unknown }).postMessage !== "function") {
      throw new TypeError("ModelClient.connect needs the MessagePort a ModelHost's connect() returned");
    }
    return new ModelClient<M>(port);
  }

  /** The host's backend state, as last reported. */
  get state(): BackendState {
    return this.#state;
  }

  /** The error that moved the host to `error`, while it is there. */
  get error(): InferenceError | undefined {
    return this.#error;
  }

  /** True once the client closed, or its host did. */
  get closed(): boolean {
    return this.#link.kind === "closed";
  }

  /** Resolves once the host is Ready (waiting while it loads); rejects with its error, or NOT_READY once closed. */
  start(): Promise<void> {
    if (this.#link.kind === "closed") return Promise.reject(copy(this.#link.error));
    if (this.#state === BackendState.Ready) return Promise.resolve();
    if (this.#state === BackendState.Error && this.#error !== undefined) return Promise.reject(copy(this.#error));
    return new Promise<void>((resolve, reject) => {
      this.#waiters.add({ resolve, reject });
      this.#updateRef();
    });
  }

  /** Refuses: only the host's owner resets the model (VALIDATION). */
  reset(): Promise<void> {
    return Promise.reject(new InferenceError("VALIDATION", "a ModelClient cannot reset the model: the thread that owns its ModelHost does"));
  }

  /** Runs operation `op` in the model worker, after every call before it from any thread. */
  call<K extends OpName<M>>(op: K, ...args: OpArgs<M, K>): Promise<OpResult<M, K>> {
    return this.#call(op, args, undefined) as Promise<OpResult<M, K>>;
  }

  /** A view whose calls carry `signal`: when it aborts, those still queued in the worker leave the queue (CANCELLED). */
  withSignal(signal: AbortSignal): ModelAccessor<M> {
    return signalledAccessor<M>((op, args, s) => this.#call(op, args, s), () => this.state, signal);
  }

  /** Leaves the host: pending calls fail with NOT_READY, and the model frees what this client's requests held. Idempotent. */
  async close(): Promise<void> {
    if (this.#link.kind === "closed") return;
    this.#send({ type: "close" });
    this.#cut(new InferenceError("NOT_READY", "model client closed"));
    this.#port.close();
  }

  /** Same as {@link ModelClient.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #call(op: string, args: readonly unknown[], signal: AbortSignal | undefined): Promise<unknown> {
    if (this.#link.kind === "closed") return Promise.reject(copy(this.#link.error));
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = () => this.#send({ type: "cancel", id });
      try {
        this.#port.postMessage({ type: "call", id, op, args } satisfies ClientMessage);
      } catch (error) {
        reject(new InferenceError("VALIDATION", `arguments of operation "${op}" must be structured-cloneable`, { cause: error }));
        return;
      }
      this.#pending.set(id, { resolve, reject, signal, onAbort });
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#updateRef();
    });
  }

  #receive(message: HostToClientMessage): void {
    switch (message.type) {
      case "state": {
        const previous = this.#state;
        const error = message.error === undefined ? undefined : (deserializeError(message.error) as InferenceError);
        this.#state = message.state;
        this.#error = message.state === BackendState.Error ? error : undefined;
        if (message.state === BackendState.Ready) this.#settleWaiters();
        if (message.state === BackendState.Error && error !== undefined) this.#settleWaiters(error);
        if (previous !== message.state) this.emit("state", error === undefined ? { state: message.state, previous } : { state: message.state, previous, error });
        return;
      }
      case "progress":
        this.emit("progress", message.progress);
        return;
      case "result": {
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        pending.signal?.removeEventListener("abort", pending.onAbort);
        if (message.ok) pending.resolve(message.value);
        else {
          const error = deserializeError(message.error);
          pending.reject(InferenceError.is(error, "CANCELLED") && pending.signal?.aborted ? reasonOf(pending.signal) : error);
        }
        this.#updateRef();
        return;
      }
      case "closed":
        this.#cut(new InferenceError("NOT_READY", "model host closed"));
        this.#port.close();
        return;
    }
  }

  /** Ends the link: pending calls and `start()` waiters fail with a copy of `error`, and so will later calls. */
  #cut(error: InferenceError): void {
    if (this.#link.kind === "closed") return;
    this.#link = { kind: "closed", error };
    for (const pending of this.#pending.values()) {
      pending.signal?.removeEventListener("abort", pending.onAbort);
      pending.reject(copy(error));
    }
    this.#pending.clear();
    this.#settleWaiters(error);
  }

  /** Resolves (no error) or rejects every `start()` waiter. */
  #settleWaiters(error?: InferenceError): void {
    for (const waiter of this.#waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(copy(error));
    }
    this.#waiters.clear();
    this.#updateRef();
  }

  #send(message: ClientMessage): void {
    if (this.#link.kind === "open") this.#port.postMessage(message);
  }

  /** Keeps the thread alive while a call or `start()` is pending, and only then. */
  #updateRef(): void {
    if (this.#link.kind === "open" && (this.#pending.size > 0 || this.#waiters.size > 0)) this.#port.ref();
    else this.#port.unref();
  }
}

/** A fresh error with the same code, message, field and file (each caller gets its own object). */
function copy(error: InferenceError): InferenceError {
  return new InferenceError(error.code, error.message, { cause: error.cause, field: error.field, file: error.file });
}
