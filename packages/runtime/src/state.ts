import type { InferenceError } from "./errors.js";

/** Backend lifecycle states: Uninitialized → Loading → Ready, and Error after a crash or failed load. */
export const BackendState = Object.freeze({
  Uninitialized: "uninitialized",
  Loading: "loading",
  Ready: "ready",
  Error: "error",
} as const);

/** One of the {@link BackendState} values. */
export type BackendState = (typeof BackendState)[keyof typeof BackendState];

/** Progress reported by a model while it loads, e.g. `{ stage: "read", done: bytes, total: bytes, unit: "B" }`. */
export interface LoadProgress {
  stage: string;
  done: number;
  total: number;
  unit?: string;
}

/** A state transition, with the error that caused an `Error` state. */
export interface StateChange {
  state: BackendState;
  previous: BackendState;
  error?: InferenceError;
}

/** Events emitted by a model host and by an inference: `state` changes and load `progress`. */
export interface BackendEvents {
  state: [change: StateChange];
  progress: [progress: LoadProgress];
}
