import { cancelToken, reasonOf } from "./cancel.js";
import { cancelledError, InferenceError } from "./errors.js";
import type { JobValues } from "./handler.js";
import type { ModelAccessor } from "./model.js";
import { Channel, JobStream, outStream } from "./stream.js";

/** Where a job is: running, or how it ended. */
export type JobStatus = "running" | "completed" | "failed" | "cancelled";

/** Everything needed to start one job (built by an Inference). */
export interface JobSpec {
  readonly id: number;
  readonly handlerName: string;
  readonly bufferSize: number;
  /** Milliseconds the stream may stay full and unread before the job cancels itself (Infinity: never). */
  readonly idleTimeout: number;
  readonly request: unknown;
  readonly state: { readonly value: unknown } | undefined;
  readonly model: ModelAccessor<object> | undefined;
  readonly signal: AbortSignal | undefined;
  /** When set, the job fails with it at once and the handler never runs (e.g. OVERLOADED). */
  readonly failure: InferenceError | undefined;
  /** Resolves the handler's arguments and calls it. */
  readonly invoke: (values: JobValues) => Promise<unknown>;
  /** Called once when the job settled. */
  readonly onSettled: () => void;
}

/**
 * One running handler invocation. `stream` yields its outputs; `join()` resolves when it completed and
 * rejects with its error: CANCELLED after `cancel()` (or its signal, or leaving the stream early; the stream
 * then just ends), HANDLER_FAILED (the handler's error as `cause`), or the code of an InferenceError the
 * handler let through (e.g. WORKER_CRASHED, VALIDATION). `join()` waits for the handler itself to return.
 * Without a reader, a handler that emits more than the buffer size waits: read `stream` or use `run()`. A stream
 * left full and unread for the idle timeout (`builder.withStreamIdleTimeout`, default 60 s) cancels the job, so
 * an abandoned stream cannot hold the model's resources (a KV slot) forever.
 */
export class Job<O> {
  /** Job id, unique within its inference. */
  readonly id: number;
  /** The job's outputs (bounded; leaving a `for await` early cancels the job). */
  readonly stream: JobStream<O>;
  readonly #controller = new AbortController();
  readonly #done: Promise<void>;
  #status: JobStatus = "running";

  /**
   * Starts the job described by `spec` (the handler runs from the next microtask on).
   * @internal Jobs are made by `Inference.infer(...).spawn()`; `JobSpec` is not part of the public API.
   */
  constructor(spec: JobSpec) {
    this.id = spec.id;
    const channel = new Channel<O>(spec.bufferSize, {
      idleTimeout: spec.idleTimeout,
      onIdle: () => this.cancel(`its stream was full and not read for ${spec.idleTimeout} ms`),
    });
    this.stream = new JobStream(channel, () => this.cancel("the stream consumer left"));
    const signal = this.#controller.signal;
    signal.addEventListener("abort", () => channel.cancel(reasonOf(signal)), { once: true });
    // A refused job (spec.failure) ignores its signal: its stream throws the error join() rejects with.
    const external = spec.failure === undefined ? spec.signal : undefined;
    const follow = () => this.cancel(external === undefined ? undefined : reasonOf(external));
    if (external?.aborted) follow();
    else external?.addEventListener("abort", follow, { once: true });
    this.#done = this.#execute(spec, channel).finally(() => {
      external?.removeEventListener("abort", follow);
      spec.onSettled();
    });
    this.#done.catch(() => undefined);
  }

  /** Where the job is right now. */
  get status(): JobStatus {
    return this.#status;
  }

  /** Aborted when the job is cancelled. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Cancels the job cooperatively (no-op once it ended): its stream ends, `join()` rejects with CANCELLED. */
  cancel(reason?: unknown): void {
    if (this.#status !== "running" || this.#controller.signal.aborted) return;
    this.#controller.abort(cancelledError(reason));
  }

  /** Resolves once the job completed; rejects with its error (the same one its stream throws). */
  join(): Promise<void> {
    return this.#done;
  }

  async #execute(spec: JobSpec, channel: Channel<O>): Promise<void> {
    const signal = this.#controller.signal;
    if (spec.failure !== undefined) return this.#fail(channel, spec.failure);
    await null;
    try {
      if (signal.aborted) throw reasonOf(signal);
      const values: JobValues = {
        id: spec.id,
        request: spec.request,
        signal,
        cancel: cancelToken(signal),
        out: outStream(channel as Channel<unknown>),
        model: spec.model,
        state: spec.state,
      };
      const result = await spec.invoke(values);
      if (signal.aborted) throw reasonOf(signal);
      if (result !== undefined) await channel.push(result as O);
      this.#status = "completed";
      channel.close();
    } catch (error) {
      if (signal.aborted || InferenceError.is(error, "CANCELLED")) {
        const reason = signal.aborted ? reasonOf(signal) : (error as InferenceError);
        this.#controller.abort(reason);
        this.#status = "cancelled";
        channel.cancel(reason);
        throw reason;
      }
      const failure = InferenceError.is(error)
        ? error
        : new InferenceError("HANDLER_FAILED", `handler "${spec.handlerName}" failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      return this.#fail(channel, failure);
    }
  }

  #fail(channel: Channel<O>, failure: InferenceError): never {
    this.#status = "failed";
    channel.fail(failure);
    throw failure;
  }
}

/** Prepares one job: add state and signals, then `spawn()` it or `run()` it to completion. */
export class JobBuilder<Req, O, S> {
  readonly #request: Req;
  readonly #launch: (request: Req, state: { value: unknown } | undefined, signal: AbortSignal | undefined) => Job<O>;
  #state: { value: unknown } | undefined;
  readonly #signals: AbortSignal[] = [];

  /**
   * Created by `Inference.infer`.
   * @internal
   */
  constructor(request: Req, launch: (request: Req, state: { value: unknown } | undefined, signal: AbortSignal | undefined) => Job<O>) {
    this.#request = request;
    this.#launch = launch;
  }

  /** Sets the per-job state the handler's `State<S>()` parameter receives. */
  withState(state: S): this {
    this.#state = { value: state };
    return this;
  }

  /**
   * Cancels the job when `signal` aborts (an already-aborted signal cancels it before the handler runs).
   * Throws TypeError unless `signal` is an AbortSignal.
   */
  withSignal(signal: AbortSignal): this {
    this.#signals.push(checkSignal(signal));
    return this;
  }

  /** Starts the job and returns it at once. */
  spawn(): Job<O> {
    return this.#start(this.#signals);
  }

  /**
   * Runs the job to completion and resolves with every output; rejects with the job's error (CANCELLED when
   * `signal` aborts, at once when it already has). `signal` applies to this run only, not to the builder.
   */
  async run(signal?: AbortSignal): Promise<O[]> {
    const signals = signal === undefined ? this.#signals : [...this.#signals, checkSignal(signal)];
    if (signal?.aborted) throw reasonOf(signal);
    const job = this.#start(signals);
    const outputs: O[] = [];
    for await (const output of job.stream) outputs.push(output);
    await job.join();
    return outputs;
  }

  #start(signals: readonly AbortSignal[]): Job<O> {
    const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any([...signals]);
    return this.#launch(this.#request, this.#state, signal);
  }
}

function checkSignal(signal: unknown): AbortSignal {
  if (!(signal instanceof AbortSignal)) throw new TypeError(`signal must be an AbortSignal, got ${signal === null ? "null" : typeof signal}`);
  return signal;
}
