/**
 * The one error catalogue of actorlm: every failure the runtime reports is an {@link InferenceError}
 * with a {@link ErrorCode} and the HTTP status that code maps to, and where it applies the request field or
 * file at fault.
 */

/** Every error code, in catalogue order. */
export const ERROR_CODES = [
  "VALIDATION",
  "OVERLOADED",
  "NOT_READY",
  "CANCELLED",
  "HANDLER_FAILED",
  "WORKER_CRASHED",
  "MODEL_LOAD",
  "NON_FINITE",
] as const;

/** An error code of the catalogue. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * HTTP status per code:
 * - `VALIDATION` 422: bad input, bad options, a handler that cannot be injected, unclonable operation data;
 * - `OVERLOADED` 429: a bounded queue or job limit is full;
 * - `NOT_READY` 503: the model is loading, resetting or closed;
 * - `CANCELLED` 499 (nginx's "client closed request"): the job was cancelled;
 * - `HANDLER_FAILED` 424: the handler threw (the thrown error is the `cause`);
 * - `WORKER_CRASHED` 424: the model worker died, or gave up after a failure that left its memory in an unknown state;
 *   `reset()` brings it back;
 * - `MODEL_LOAD` 500: the model could not be loaded in the worker (what `load()` threw is the `cause`);
 * - `NON_FINITE` 424: the model computed a non-finite number (NaN or ±Infinity) where the message says; the request
 *   failed, the model goes on serving.
 */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  VALIDATION: 422,
  OVERLOADED: 429,
  NOT_READY: 503,
  CANCELLED: 499,
  HANDLER_FAILED: 424,
  WORKER_CRASHED: 424,
  MODEL_LOAD: 500,
  NON_FINITE: 424,
});

/** Tells whether a value is one of the catalogue's codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * Where in a request or an options object the fault is: keys and array indexes from the top, e.g. `["maxTokens"]`,
 * `["stop", 1]`, `["messages", 2, "content"]`. Each API names the keys its own way (see `formatFieldPath`).
 */
export type FieldPath = readonly (string | number)[];

/** A field path as the library writes it: `maxTokens`, `stop[1]`, `messages[2].content`. */
export function formatFieldPath(path: FieldPath): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? key : `${out}.${key}`), "");
}

/** A field written as text (`stop[1]`, `a.b`) as a path; a path as it is. */
export function toFieldPath(field: string | FieldPath): FieldPath {
  if (typeof field !== "string") return Object.freeze([...field]);
  const path: (string | number)[] = [];
  for (const part of field.split(".")) {
    const [name, ...indexes] = part.split("[");
    if (name !== "") path.push(name);
    for (const index of indexes) path.push(Number.parseInt(index, 10));
  }
  return Object.freeze(path);
}

/** What an {@link InferenceError} may say besides its message: the cause, and where the fault is. */
export interface InferenceErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /**
   * The request field or option at fault, as a path (`["stop", 1]`) or written out (`"stop[1]"`, `"maxTokens"`). The
   * message then starts with the field as the library writes it (`stop[1]: must not be empty`).
   */
  field?: string | FieldPath;
  /** The file at fault (e.g. a model's `config.json`). */
  file?: string;
}

/** The runtime's error: a catalogue code, its HTTP status, an optional cause, and the field or file at fault. */
export class InferenceError extends Error {
  /** The catalogue code. */
  readonly code: ErrorCode;
  /** The request field or option at fault as a path (`["messages", 2, "content"]`), when one is. */
  readonly path: FieldPath | undefined;
  /** The same field as the library writes it (`messages[2].content`), when one is. */
  readonly field: string | undefined;
  /** The file at fault, when one is. */
  readonly file: string | undefined;

  /** Creates an error with a code, a message and optionally its cause and the field or file at fault. */
  constructor(code: ErrorCode, message: string, options: InferenceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "InferenceError";
    this.code = code;
    this.path = options.field === undefined ? undefined : toFieldPath(options.field);
    this.field = this.path === undefined ? undefined : formatFieldPath(this.path);
    this.file = options.file;
  }

  /**
   * What the message says about its field, without the field it starts with (`must be ≥ 1` for `maxTokens: must be ≥
   * 1`): an API that names the field its own way writes its name, then this. The whole message when no field is set.
   */
  get detail(): string {
    const lead = this.field === undefined ? undefined : `${this.field}: `;
    return lead !== undefined && this.message.startsWith(lead) ? this.message.slice(lead.length) : this.message;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** Tells whether `error` is an InferenceError (optionally with the given code). */
  static is(error: unknown, code?: ErrorCode): error is InferenceError {
    return error instanceof InferenceError && (code === undefined || error.code === code);
  }

  /** A plain JSON view: `{ code, status, message }`, plus `field` / `file` when set. */
  toJSON(): { code: ErrorCode; status: number; message: string; field?: string; file?: string } {
    const out: { code: ErrorCode; status: number; message: string; field?: string; file?: string } = { code: this.code, status: this.status, message: this.message };
    if (this.field !== undefined) out.field = this.field;
    if (this.file !== undefined) out.file = this.file;
    return out;
  }
}

/** An error as plain, structured-cloneable data (how errors cross thread boundaries). */
export interface SerializedError {
  name: string;
  message: string;
  code?: ErrorCode;
  field?: string;
  /** The field as a path (keys that hold `.` or `[` survive only here). */
  path?: (string | number)[];
  file?: string;
  stack?: string;
  cause?: SerializedError;
}

/** Rebuilds a subclass of InferenceError from its code, message and options (see {@link registerErrorClass}). */
export type ErrorRestorer = (code: ErrorCode, message: string, options: InferenceErrorOptions) => InferenceError;

const RESTORERS = new Map<string, ErrorRestorer>();

/**
 * Lets {@link deserializeError} rebuild errors named `name` as their own subclass of InferenceError (e.g. the llm
 * package's `LlmError`), so `instanceof` holds on both sides of a thread boundary. Without it they come back as
 * InferenceError with the same name, code, field and file.
 */
export function registerErrorClass(name: string, restore: ErrorRestorer): void {
  RESTORERS.set(name, restore);
}

const MAX_CAUSE_DEPTH = 4;

/** Turns any thrown value into plain data, keeping name, message, catalogue code, field, file, stack and causes. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error) };
  }
  const out: SerializedError = { name: error.name, message: error.message };
  const { code, field, path, file } = error as { code?: unknown; field?: unknown; path?: unknown; file?: unknown };
  if (isErrorCode(code)) out.code = code;
  if (typeof field === "string") out.field = field;
  if (Array.isArray(path)) out.path = [...(path as (string | number)[])];
  if (typeof file === "string") out.file = file;
  if (error.stack !== undefined) out.stack = error.stack;
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/**
 * Rebuilds an error from {@link serializeError}'s data: with a code, an InferenceError (or the subclass registered
 * for its name) carrying the same field and file; without one, an Error with the same name.
 */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  let error: Error;
  if (data.code !== undefined) {
    const options: InferenceErrorOptions = { cause, field: data.path ?? data.field, file: data.file };
    const restore = RESTORERS.get(data.name);
    error = restore !== undefined ? restore(data.code, data.message, options) : new InferenceError(data.code, data.message, options);
    error.name = data.name;
  } else {
    error = new Error(data.message, cause === undefined ? undefined : { cause });
    error.name = data.name;
  }
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

/** The CANCELLED error used when a job is cancelled, with an optional reason in the message. */
export function cancelledError(reason?: unknown): InferenceError {
  if (InferenceError.is(reason, "CANCELLED")) return reason;
  const text = reason === undefined ? "" : `: ${reason instanceof Error ? reason.message : String(reason)}`;
  return new InferenceError("CANCELLED", `job cancelled${text}`, reason instanceof Error ? { cause: reason } : {});
}
