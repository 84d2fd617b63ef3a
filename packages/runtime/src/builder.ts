import { InferenceError } from "./errors.js";
import { planInjection, type Extractor, type ExtractorFn, type Handler } from "./handler.js";
import { ModelHost, type HostOptions, type ModelArgs } from "./host.js";
import { Inference } from "./inference.js";
import type { ModelClass, SharedModel } from "./model.js";
import { integerOption } from "./options.js";
import { DEFAULT_BUFFER_SIZE, DEFAULT_STREAM_IDLE_TIMEOUT, idleTimeoutOption } from "./stream.js";

type ModelSource =
  | { readonly kind: "init"; readonly model: ModelClass<object, unknown>; readonly args: unknown; readonly options: HostOptions }
  | { readonly kind: "shared"; readonly host: SharedModel<object> };

/**
 * Assembles an {@link Inference}: a model (`init` or `withModel`), custom extractors, options, then
 * `build(handler)`, which checks the handler's parameters and resolves once the model is Ready.
 */
export class InferenceBuilder<M extends object = never> {
  #source: ModelSource | undefined;
  readonly #extractors = new Map<symbol, ExtractorFn<unknown>>();
  #bufferSize = DEFAULT_BUFFER_SIZE;
  #streamIdleTimeout = DEFAULT_STREAM_IDLE_TIMEOUT;
  #maxJobs: number | undefined;

  /**
   * The inference gets its own model worker: `model.load(args)` runs there at `build()`, and `close()`
   * terminates it. `args` may be a {@link BackendConfig}: it is validated at build and sent as plain data.
   */
  init<M2 extends object, A>(model: ModelClass<M2, A>, args: NoInfer<ModelArgs<A>>, options: HostOptions = {}): InferenceBuilder<M2> {
    this.#source = { kind: "init", model: model as unknown as ModelClass<object, unknown>, args, options };
    return this as unknown as InferenceBuilder<M2>;
  }

  /**
   * The inference uses an existing model: a {@link ModelHost}, which may be shared by several inferences (several
   * handlers, one model worker, one FIFO of operations), or a `ModelClient` on a thread that does not own the
   * model (see `ModelHost.connect()`). `build()` starts a host if needed (a client waits for it to be Ready);
   * `close()` leaves it running: whoever created the host or client closes it.
   */
  withModel<M2 extends object>(model: SharedModel<M2>): InferenceBuilder<M2> {
    this.#source = { kind: "shared", host: model as unknown as SharedModel<object> };
    return this as unknown as InferenceBuilder<M2>;
  }

  /** Registers how to supply a custom token (or override a built-in one) for each job. */
  extractor<T>(token: Extractor<T>, fn: ExtractorFn<T>): this {
    this.#extractors.set(token.key, fn as ExtractorFn<unknown>);
    return this;
  }

  /** Outputs a job may buffer ahead of its reader (default 16); throws RangeError unless an integer ≥ 1. */
  withBufferSize(size: number): this {
    this.#bufferSize = integerOption("bufferSize", size, 1);
    return this;
  }

  /**
   * Milliseconds a job's stream may stay full and unread before the job is cancelled (CANCELLED; its handler's
   * cleanup frees what it holds, e.g. a KV slot). Default 60 000; `Infinity` turns it off. Throws RangeError unless
   * an integer ≥ 1 or Infinity.
   */
  withStreamIdleTimeout(ms: number): this {
    this.#streamIdleTimeout = idleTimeoutOption("streamIdleTimeout", ms);
    return this;
  }

  /** Jobs that may run at once; beyond it a new job fails with OVERLOADED. Throws RangeError unless an integer ≥ 1. */
  withMaxJobs(max: number): this {
    this.#maxJobs = integerOption("maxJobs", max, 1);
    return this;
  }

  /** Checks the handler's parameters (VALIDATION naming the first unsupplied one), loads the model, resolves when Ready. */
  async build<Req, O, S>(h: Handler<Req, O, S, M>): Promise<Inference<Req, O, S>> {
    const source = this.#source;
    const plan = planInjection(h as Handler<unknown, unknown, unknown, unknown>, { model: source !== undefined, extractors: new Map(this.#extractors) });
    let host: SharedModel<object> | undefined;
    if (source?.kind === "init") {
      // The host validates a BackendConfig itself: start() rejects VALIDATION before any worker starts.
      host = ModelHost.create(source.model, source.args, source.options);
      try {
        await host.start();
      } catch (error) {
        await host.close();
        throw error;
      }
    } else if (source?.kind === "shared") {
      host = source.host;
      await host.start();
      // A Ready shared host resolves start() at once, and its owner may close it before we resume.
      if (host.closed) throw new InferenceError("NOT_READY", "model host is closed");
    }
    return new Inference<Req, O, S>({
      handlerName: h.name,
      fn: h.fn,
      plan,
      host,
      ownsHost: source?.kind === "init",
      bufferSize: this.#bufferSize,
      streamIdleTimeout: this.#streamIdleTimeout,
      maxJobs: this.#maxJobs,
    });
  }
}
