/**
 * The one error catalogue of actorlm: every failure the runtime reports is an {@link InferenceError}
 * with a {@link ErrorCode} and the HTTP status that code maps to.
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
 * - `WORKER_CRASHED` 424: the model worker died; `reset()` brings it back;
 * - `MODEL_LOAD` 500: the model could not be loaded in the worker (what `load()` threw is the `cause`).
 */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  VALIDATION: 422,
  OVERLOADED: 429,
  NOT_READY: 503,
  CANCELLED: 499,
  HANDLER_FAILED: 424,
  WORKER_CRASHED: 424,
  MODEL_LOAD: 500,
});

/** Tells whether a value is one of the catalogue's codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}

/** The runtime's error: a catalogue code, its HTTP status and an optional cause. */
export class InferenceError extends Error {
  /** The catalogue code. */
  readonly code: ErrorCode;

  /** Creates an error with a code, a message and optionally the error that caused it. */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InferenceError";
    this.code = code;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** Tells whether `error` is an InferenceError (optionally with the given code). */
  static is(error: unknown, code?: ErrorCode): error is InferenceError {
    return error instanceof InferenceError && (code === undefined || error.code === code);
  }

  /** A plain JSON view: `{ code, status, message }`. */
  toJSON(): { code: ErrorCode; status: number; message: string } {
    return { code: this.code, status: this.status, message: this.message };
  }
}

/** An error as plain, structured-cloneable data (how errors cross the worker boundary). */
export interface SerializedError {
  name: string;
  message: string;
  code?: ErrorCode;
  stack?: string;
  cause?: SerializedError;
}

const MAX_CAUSE_DEPTH = 4;

/** Turns any thrown value into plain data, keeping name, message, catalogue code, stack and causes. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: String(error) };
  }
  const out: SerializedError = { name: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (isErrorCode(code)) out.code = code;
  if (error.stack !== undefined) out.stack = error.stack;
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/** Rebuilds an error from {@link serializeError}'s data: an InferenceError when it had a code, else an Error. */
export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  const options = cause === undefined ? undefined : { cause };
  const error = data.code !== undefined ? new InferenceError(data.code, data.message, options) : new Error(data.message, options);
  if (data.code === undefined) error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

/** The CANCELLED error used when a job is cancelled, with an optional reason in the message. */
export function cancelledError(reason?: unknown): InferenceError {
  if (InferenceError.is(reason, "CANCELLED")) return reason;
  const text = reason === undefined ? "" : `: ${reason instanceof Error ? reason.message : String(reason)}`;
  return new InferenceError("CANCELLED", `job cancelled${text}`, reason instanceof Error ? { cause: reason } : undefined);
}
