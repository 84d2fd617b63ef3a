import { cancelledError, InferenceError } from "./errors.js";
import { integerOption } from "./options.js";

/** Default number of outputs a job may buffer before its producer waits. */
export const DEFAULT_BUFFER_SIZE = 16;

/** Default milliseconds a full stream may go unread before its job is cancelled (see {@link ChannelOptions.idleTimeout}). */
export const DEFAULT_STREAM_IDLE_TIMEOUT = 60_000;

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /**
   * Milliseconds a producer may wait on a full buffer without the consumer taking anything; then `onIdle` runs
   * (a job cancels itself, freeing what it holds). `Infinity` (the default for a bare channel) never times out.
   */
  idleTimeout?: number;
  /** Called once the idle timeout expired. */
  onIdle?: () => void;
}

/** Checks an idle timeout: an integer ≥ 1 (milliseconds) or Infinity; throws RangeError/TypeError naming `name`. */
export function idleTimeoutOption(name: string, value: unknown): number {
  return value === Infinity ? Infinity : integerOption(name, value, 1);
}

interface PendingPush<T> {
  value: T;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface PendingPull<T> {
  resolve: (result: IteratorResult<T, undefined>) => void;
  reject: (error: Error) => void;
}

type End = { kind: "open" } | { kind: "closed" } | { kind: "failed"; error: Error } | { kind: "cancelled"; error: Error };

/**
 * A bounded single-consumer channel. `push` resolves once the value is in the buffer, so the buffer never
 * holds more than `capacity` values and a slow consumer slows the producer. After `close` the consumer
 * drains what is buffered, then sees the end; after `fail` it drains, then gets the error; after `cancel`
 * the buffer is dropped and the consumer sees the end at once, while waiting pushes reject with CANCELLED.
 */
export class Channel<T> {
  readonly capacity: number;
  readonly #buffer: T[] = [];
  readonly #pushes: PendingPush<T>[] = [];
  #pull: PendingPull<T> | undefined;
  #end: End = { kind: "open" };
  readonly #idleTimeout: number;
  readonly #onIdle: (() => void) | undefined;
  #idleTimer: NodeJS.Timeout | undefined;

  /** Creates a channel holding at most `capacity` values; throws RangeError unless an integer ≥ 1 (and for a bad idle timeout). */
  constructor(capacity: number = DEFAULT_BUFFER_SIZE, options: ChannelOptions = {}) {
    this.capacity = integerOption("capacity", capacity, 1);
    this.#idleTimeout = options.idleTimeout === undefined ? Infinity : idleTimeoutOption("idleTimeout", options.idleTimeout);
    this.#onIdle = options.onIdle;
  }

  /** Values pushed and not yet taken by the consumer. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** True until close/fail/cancel. */
  get open(): boolean {
    return this.#end.kind === "open";
  }

  /** Adds a value, waiting while the buffer is full; rejects with CANCELLED after cancel (or once ended). */
  push(value: T): Promise<void> {
    if (this.#end.kind === "cancelled") return Promise.reject(this.#end.error);
    if (this.#end.kind !== "open") return Promise.reject(cancelledError("the stream has ended"));
    if (this.#pull !== undefined) {
      const pull = this.#pull;
      this.#pull = undefined;
      pull.resolve({ value, done: false });
      return Promise.resolve();
    }
    if (this.#pushes.length === 0 && this.#buffer.length < this.capacity) {
      this.#buffer.push(value);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#pushes.push({ value, resolve, reject });
      this.#watchIdle();
    });
  }

  /** Takes the next value, waiting for one; `done` once the channel ended and is drained. Rejects after `fail`. */
  next(): Promise<IteratorResult<T, undefined>> {
    this.#stopIdle();
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift() as T;
      this.#admit();
      return Promise.resolve({ value, done: false });
    }
    if (this.#end.kind === "failed") return Promise.reject(this.#end.error);
    if (this.#end.kind !== "open") return Promise.resolve({ value: undefined, done: true });
    if (this.#pull !== undefined) {
      return Promise.reject(new InferenceError("VALIDATION", "a job stream has a single consumer: next() called while another next() waits"));
    }
    return new Promise((resolve, reject) => {
      this.#pull = { resolve, reject };
    });
  }

  /** Ends the channel normally: buffered (and still waiting) values are delivered, then the end. */
  close(): void {
    if (this.#end.kind !== "open") return;
    this.#end = { kind: "closed" };
    this.#stopIdle();
    this.#settlePull();
  }

  /** Ends the channel with `error`: the consumer drains the buffer, then `next()` rejects with it. */
  fail(error: Error): void {
    if (this.#end.kind !== "open") return;
    this.#end = { kind: "failed", error };
    this.#rejectPushes(error);
    this.#settlePull();
  }

  /** Ends the channel at once: buffered values are dropped, waiting pushes reject with `error`. */
  cancel(error: Error): void {
    if (this.#end.kind !== "open") return;
    this.#end = { kind: "cancelled", error };
    this.#buffer.length = 0;
    this.#rejectPushes(error);
    this.#settlePull();
  }

  #admit(): void {
    const waiting = this.#pushes.shift();
    if (waiting === undefined) return;
    this.#buffer.push(waiting.value);
    waiting.resolve();
    this.#watchIdle();
  }

  #rejectPushes(error: Error): void {
    this.#stopIdle();
    for (const push of this.#pushes.splice(0)) push.reject(error);
  }

  /** While a producer waits on a full buffer, (re)starts the idle clock; it never keeps the process alive. */
  #watchIdle(): void {
    if (this.#idleTimeout === Infinity || this.#pushes.length === 0 || this.#end.kind !== "open") return;
    this.#stopIdle();
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#end.kind === "open" && this.#pushes.length > 0) this.#onIdle?.();
    }, this.#idleTimeout);
    this.#idleTimer.unref();
  }

  #stopIdle(): void {
    if (this.#idleTimer === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #settlePull(): void {
    const pull = this.#pull;
    if (pull === undefined) return;
    this.#pull = undefined;
    if (this.#end.kind === "failed") pull.reject(this.#end.error);
    else pull.resolve({ value: undefined, done: true });
  }
}

/** A handler's output: `emit` resolves once the value is buffered and waits while the buffer is full. */
export interface OutStream<O> {
  /** Emits one output; waits while the job's buffer is full; rejects with CANCELLED once the job is cancelled. Always await it. */
  emit(value: O): Promise<void>;
}

/** The OutStream view of a channel. */
export function outStream<O>(channel: Channel<O>): OutStream<O> {
  return { emit: (value: O) => channel.push(value) };
}

/**
 * A job's outputs as an `AsyncIterable` with one consumer. Leaving a `for await` early cancels the job;
 * a failed job makes iteration throw the job's error; a cancelled job's stream simply ends.
 */
export class JobStream<O> implements AsyncIterable<O> {
  readonly #channel: Channel<O>;
  readonly #onReturn: () => void;

  /** Wraps `channel`; `onReturn` runs when the consumer leaves early (it cancels the job). */
  constructor(channel: Channel<O>, onReturn: () => void) {
    this.#channel = channel;
    this.#onReturn = onReturn;
  }

  /** Outputs produced and not yet read (never more than the buffer size). */
  get buffered(): number {
    return this.#channel.buffered;
  }

  /** The buffer size (outputs a producer may get ahead of the consumer). */
  get capacity(): number {
    return this.#channel.capacity;
  }

  /** The iterator; `return()` (a `break` out of `for await`) cancels the job. */
  [Symbol.asyncIterator](): AsyncIterator<O, undefined> {
    return {
      next: () => this.#channel.next(),
      return: () => {
        this.#onReturn();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
