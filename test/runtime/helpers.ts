import type { BackendState, LoadProgress, StateChange } from "@actorlm/runtime";

/** Something with eventemitter3-style `on`/`off` for `state` events. */
interface StateSource {
  on(event: "state", fn: (change: StateChange) => void): unknown;
  off(event: "state", fn: (change: StateChange) => void): unknown;
}

/** Resolves at the next `state` event reaching `state`. */
export function nextState(source: StateSource, state: BackendState): Promise<StateChange> {
  return new Promise((resolve) => {
    const listener = (change: StateChange) => {
      if (change.state !== state) return;
      source.off("state", listener);
      resolve(change);
    };
    source.on("state", listener);
  });
}

/** Resolves at the next `progress` event of `stage`, calling `then` synchronously inside the event first. */
export function nextProgress(
  source: { on(event: "progress", fn: (p: LoadProgress) => void): unknown; off(event: "progress", fn: (p: LoadProgress) => void): unknown },
  stage: string,
  then?: () => void,
): Promise<LoadProgress> {
  return new Promise((resolve) => {
    const listener = (progress: LoadProgress) => {
      if (progress.stage !== stage) return;
      source.off("progress", listener);
      then?.();
      resolve(progress);
    };
    source.on("progress", listener);
  });
}

/** Records every `state` event of `source`. */
export function recordStates(source: StateSource): BackendState[] {
  const seen: BackendState[] = [];
  source.on("state", (change) => seen.push(change.state));
  return seen;
}

export { rejection } from "../assertions.js";

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
