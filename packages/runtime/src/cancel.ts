import { cancelledError, InferenceError } from "./errors.js";

/** What a handler sees of its job's cancellation (an AbortSignal underneath). */
export interface CancelToken {
  /** Aborted when the job is cancelled; pass it on to anything that accepts a signal. */
  readonly signal: AbortSignal;
  /** True once the job is cancelled. */
  readonly cancelled: boolean;
  /** Throws InferenceError CANCELLED when the job is cancelled. */
  throwIfCancelled(): void;
}

/** Creates the CancelToken view of `signal`. */
export function cancelToken(signal: AbortSignal): CancelToken {
  return {
    signal,
    get cancelled() {
      return signal.aborted;
    },
    throwIfCancelled() {
      if (signal.aborted) throw reasonOf(signal);
    },
  };
}

/** The CANCELLED error carried by an aborted signal (wrapping a foreign abort reason). */
export function reasonOf(signal: AbortSignal): InferenceError {
  const reason: unknown = signal.reason;
  if (InferenceError.is(reason, "CANCELLED")) return reason;
  return cancelledError(reason instanceof Error && reason.name === "AbortError" ? undefined : reason);
}
