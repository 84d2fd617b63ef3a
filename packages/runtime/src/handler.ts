/**
 * Handlers and parameter injection. A handler lists its parameters as a tuple of extractor tokens;
 * the runtime builds an injection plan at `build()` (failing there, naming the parameter, when nothing
 * supplies one) and runs the plan for every job.
 */
import type { CancelToken } from "./cancel.js";
import { InferenceError } from "./errors.js";
import type { ModelAccessor } from "./model.js";
import type { OutStream } from "./stream.js";

/** What kind of value a token asks for. */
export type ExtractorKind = "in" | "model" | "cancel" | "out" | "state" | "custom";

/** A parameter token: asks the runtime for one value of type `T` per job. */
export interface Extractor<T> {
  /** What the token asks for: a built-in kind, or `custom` (supplied by `builder.extractor`). */
  readonly kind: ExtractorKind;
  /** Identity of the token (built-in tokens share one key per kind). */
  readonly key: symbol;
  /** Name used in error messages. */
  readonly name: string;
  /** Type carrier only; never set. */
  readonly __value?: T;
}

/** Token for the request. */
export interface InToken<Req> extends Extractor<Req> {
  readonly kind: "in";
}
/** Token for the model accessor. */
export interface ModelToken<M extends object> extends Extractor<ModelAccessor<M>> {
  readonly kind: "model";
  readonly __model?: M;
}
/** Token for the job's cancel token. */
export interface CancelExtractor extends Extractor<CancelToken> {
  readonly kind: "cancel";
}
/** Token for the job's output stream. */
export interface OutToken<O> extends Extractor<OutStream<O>> {
  readonly kind: "out";
  readonly __out?: O;
}
/** Token for the per-job state given with `infer(req).withState(s)`. */
export interface StateToken<S> extends Extractor<S> {
  readonly kind: "state";
}

const KEYS = {
  in: Symbol("In"),
  model: Symbol("Model"),
  cancel: Symbol("Cancel"),
  out: Symbol("Out"),
  state: Symbol("State"),
} as const;

function builtin<T extends Extractor<unknown>>(kind: Exclude<ExtractorKind, "custom">, name: string): T {
  return Object.freeze({ kind, key: KEYS[kind], name }) as unknown as T;
}

/** Asks for the request. */
export function In<Req>(): InToken<Req> {
  return builtin("in", "In");
}
/** Asks for the model accessor (needs `init` or `withModel` on the builder). */
export function Model<M extends object>(): ModelToken<M> {
  return builtin("model", "Model");
}
/** Asks for the job's cancel token. */
export function Cancel(): CancelExtractor {
  return builtin("cancel", "Cancel");
}
/** Asks for the job's output stream. */
export function Out<O>(): OutToken<O> {
  return builtin("out", "Out");
}
/** Asks for the per-job state (`infer(req).withState(s)`); a job without state fails with VALIDATION. */
export function State<S>(): StateToken<S> {
  return builtin("state", "State");
}

/** The request type of a handler parameter (what `In<Req>()` injects). */
export type In<Req> = Req;
/** The state type of a handler parameter (what `State<S>()` injects). */
export type State<S> = S;

/** Defines a custom token; supply its value with `builder.extractor(token, fn)`. */
export function defineExtractor<T>(name: string): Extractor<T> {
  return Object.freeze({ kind: "custom" as const, key: Symbol(name), name });
}

/** What a custom extractor gets to build its value from. */
export interface ExtractContext {
  /** Id of the job, unique within its inference. */
  readonly jobId: number;
  /** The job's request (what `In()` injects). */
  readonly request: unknown;
  /** Aborted when the job is cancelled. */
  readonly signal: AbortSignal;
  /** The job's state from `withState(s)`, or undefined when it has none. */
  readonly state: unknown;
}

/** Supplies a custom token's value for one job. */
export type ExtractorFn<T> = (ctx: ExtractContext) => T | Promise<T>;

type Find<P extends readonly unknown[], K extends ExtractorKind> = Extract<P[number], { readonly kind: K }>;
type ValueOf<E> = E extends Extractor<infer V> ? V : never;

/** The handler function's parameter types for a token tuple. */
export type ArgsOf<P extends readonly Extractor<unknown>[]> = { -readonly [K in keyof P]: ValueOf<P[K]> };
/** Request type of a token tuple (`unknown` without an `In`). */
export type ReqOf<P extends readonly unknown[]> = [Find<P, "in">] extends [never] ? unknown : ValueOf<Find<P, "in">>;
/** Model type a token tuple needs (`unknown` without a `Model`). */
export type ModelOf<P extends readonly unknown[]> = [Find<P, "model">] extends [never] ? unknown : Find<P, "model"> extends ModelToken<infer M> ? M : never;
/** State type of a token tuple (`never` without a `State`: such a job takes no state). */
export type StateOf<P extends readonly unknown[]> = [Find<P, "state">] extends [never] ? never : ValueOf<Find<P, "state">>;
type Returned<R> = Exclude<Awaited<R>, void | undefined>;
/** Output type: the `Out<O>` type and/or the returned value's type. */
export type OutOf<P extends readonly unknown[], R> = ([Find<P, "out">] extends [never] ? never : Find<P, "out"> extends OutToken<infer O> ? O : never) | Returned<R>;

/** A handler: its parameter tokens and function. Build one with {@link handler}. */
export interface Handler<Req, O, S = never, M = unknown> {
  /** The function's name (or "handler"), used in error messages. */
  readonly name: string;
  /** The parameter tokens, one per argument of `fn`, in order. */
  readonly params: readonly Extractor<unknown>[];
  /** The handler function; called once per job with the injected arguments. */
  readonly fn: (...args: never[]) => unknown;
  /** Type carriers only; never set. */
  readonly __types?: { req: (req: Req) => void; out: O; state: (state: S) => void; model: (model: M) => void };
}

const HANDLERS = new WeakSet<object>();

/**
 * Declares a handler: `params` is a tuple of tokens (`In<Req>()`, `Model<M>()`, `Cancel()`, `Out<O>()`,
 * `State<S>()`, custom ones), `fn` gets one argument per token. It emits through its OutStream and returns
 * nothing, or returns one value (emitted as a single output), or throws (the job fails).
 */
export function handler<const P extends readonly Extractor<unknown>[], R>(
  params: P,
  fn: (...args: ArgsOf<P>) => R,
): Handler<ReqOf<P>, OutOf<P, R>, StateOf<P>, ModelOf<P>> {
  const h = Object.freeze({ name: fn.name || "handler", params: Object.freeze([...params]), fn: fn as (...args: never[]) => unknown });
  HANDLERS.add(h);
  return h;
}

/** Per-job values the built-in tokens are taken from. */
export interface JobValues {
  readonly id: number;
  readonly request: unknown;
  readonly signal: AbortSignal;
  readonly cancel: CancelToken;
  readonly out: OutStream<unknown>;
  readonly model: ModelAccessor<object> | undefined;
  readonly state: { readonly value: unknown } | undefined;
}

/** Computes one argument for one job. */
export type Resolver = (job: JobValues) => unknown;

/** What the builder can supply, checked against a handler's tokens at build time. */
export interface Supply {
  readonly model: boolean;
  readonly extractors: ReadonlyMap<symbol, ExtractorFn<unknown>>;
}

function describe(h: { name: string }, index: number, token: { name: string }): string {
  return `handler "${h.name}" parameter #${index} (${token.name})`;
}

/** Builds the injection plan of `h`; throws VALIDATION naming the parameter that nothing supplies. */
export function planInjection(h: Handler<unknown, unknown, unknown, unknown>, supply: Supply): Resolver[] {
  if (!HANDLERS.has(h)) throw new InferenceError("VALIDATION", "build() needs a handler made with handler([...tokens], fn)");
  if (h.fn.length > h.params.length) {
    throw new InferenceError("VALIDATION", `handler "${h.name}" takes ${h.fn.length} parameters but declares ${h.params.length} tokens`);
  }
  return h.params.map((token, index): Resolver => {
    if (typeof token !== "object" || token === null || typeof token.key !== "symbol") {
      throw new InferenceError("VALIDATION", `handler "${h.name}" parameter #${index} is not an extractor token`);
    }
    const where = describe(h, index, token);
    const custom = supply.extractors.get(token.key);
    if (custom !== undefined) {
      return (job) => custom({ jobId: job.id, request: job.request, signal: job.signal, state: job.state?.value });
    }
    switch (token.kind) {
      case "in":
        return (job) => job.request;
      case "cancel":
        return (job) => job.cancel;
      case "out":
        return (job) => job.out;
      case "model":
        if (!supply.model) throw new InferenceError("VALIDATION", `${where} asks for the model, but the builder has none: call init() or withModel()`);
        return (job) => job.model;
      case "state":
        return (job) => {
          if (job.state === undefined) throw new InferenceError("VALIDATION", `${where} needs per-job state: infer(req).withState(s)`);
          return job.state.value;
        };
      default:
        throw new InferenceError("VALIDATION", `${where} has no extractor: register one with builder.extractor(token, fn)`);
    }
  });
}
