import { EventEmitter } from "eventemitter3";
import { InferenceError } from "./errors.js";
import type { Resolver } from "./handler.js";
import { signalledAccessor } from "./accessor.js";
import { Job, JobBuilder } from "./job.js";
import type { ModelAccessor, SharedModel } from "./model.js";
import { BackendState, type BackendEvents, type LoadProgress, type StateChange } from "./state.js";

/** The parts an {@link InferenceBuilder} assembles into an Inference. */
export interface InferenceParts {
  readonly handlerName: string;
  readonly fn: (...args: never[]) => unknown;
  readonly plan: readonly Resolver[];
  readonly host: SharedModel<object> | undefined;
  /** True when the inference started the host itself (`init`), so `close()` terminates it. */
  readonly ownsHost: boolean;
  readonly bufferSize: number;
  readonly streamIdleTimeout: number;
  readonly maxJobs: number | undefined;
}

/**
 * A built handler bound to its model: `infer(req)` prepares a job. Re-emits the model host's `state` and
 * `progress` events. `close()` cancels running jobs and, when it owns the model worker, terminates it.
 */
export class Inference<Req, O, S = never> extends EventEmitter<BackendEvents> {
  readonly #parts: InferenceParts;
  readonly #jobs = new Set<Job<O>>();
  readonly #onState = (change: StateChange) => this.emit("state", change);
  readonly #onProgress = (progress: LoadProgress) => this.emit("progress", progress);
  /** What handlers get for `Model()`: calls and state only, never the host itself (no close/reset). */
  readonly #model: ModelAccessor<object> | undefined;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  /**
   * Made by `InferenceBuilder.build`.
   * @internal `InferenceParts` is not part of the public API.
   */
  constructor(parts: InferenceParts) {
    super();
    this.#parts = parts;
    this.#model = parts.host === undefined ? undefined : accessorOf(parts.host);
    parts.host?.on("state", this.#onState).on("progress", this.#onProgress);
  }

  /** The backend state (`Ready` when the handler needs no model). */
  get state(): BackendState {
    return this.#parts.host?.state ?? BackendState.Ready;
  }

  /** The model (a ModelHost, or a ModelClient on a thread that does not own the model), when there is one. */
  get host(): SharedModel<object> | undefined {
    return this.#parts.host;
  }

  /** Jobs not yet settled. */
  get activeJobs(): number {
    return this.#jobs.size;
  }

  /** Prepares a job for `request`. */
  infer(request: Req): JobBuilder<Req, O, S> {
    return new JobBuilder<Req, O, S>(request, (req, state, signal) => this.#spawn(req, state, signal));
  }

  /** Restarts the model worker (e.g. after WORKER_CRASHED): Loading → Ready. On a ModelClient: VALIDATION (the host's owner resets). */
  async reset(): Promise<void> {
    if (this.#closing !== undefined) throw new InferenceError("NOT_READY", "inference is closed");
    await this.#parts.host?.reset();
  }

  /** Cancels running jobs, terminates an owned model worker and waits for the handlers to return. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link Inference.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const jobs = [...this.#jobs];
    for (const job of jobs) job.cancel("inference closed");
    const host = this.#parts.host;
    if (host !== undefined && this.#parts.ownsHost) await host.close();
    await Promise.allSettled(jobs.map((job) => job.join()));
    host?.off("state", this.#onState).off("progress", this.#onProgress);
  }

  #spawn(request: Req, state: { value: unknown } | undefined, signal: AbortSignal | undefined): Job<O> {
    const { plan, fn, maxJobs } = this.#parts;
    let failure: InferenceError | undefined;
    if (this.#closing !== undefined) failure = new InferenceError("NOT_READY", "inference is closed");
    else if (maxJobs !== undefined && this.#jobs.size >= maxJobs) {
      failure = new InferenceError("OVERLOADED", `too many jobs: ${this.#jobs.size} running (maxJobs ${maxJobs})`);
    }
    const job: Job<O> = new Job<O>({
      id: this.#nextId++,
      handlerName: this.#parts.handlerName,
      bufferSize: this.#parts.bufferSize,
      idleTimeout: this.#parts.streamIdleTimeout,
      request,
      state,
      model: this.#model,
      signal,
      failure,
      invoke: async (values) => {
        const args: unknown[] = [];
        for (const resolve of plan) args.push(await resolve(values));
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
      onSettled: () => this.#jobs.delete(job),
    });
    if (failure === undefined) this.#jobs.add(job);
    return job;
  }
}

/** A narrow, frozen view of `host`: `call`, `withSignal` and `state`, so a handler cannot cast its way to close/reset. */
function accessorOf(host: SharedModel<object>): ModelAccessor<object> {
  const call = (op: string, args: readonly unknown[], signal: AbortSignal | undefined): Promise<unknown> => {
    const target = (signal === undefined ? host : host.withSignal(signal)) as unknown as { call(op: string, ...a: unknown[]): Promise<unknown> };
    return target.call(op, ...args);
  };
  return signalledAccessor<object>(call, () => host.state, undefined);
}
