import { ModelHost, type BackendState, type LoadProgress, type StateChange } from "@actorlm/runtime";
import { afterAll, beforeAll } from "vitest";
import { Counter, type CounterArgs } from "../fixtures/runtime/counter.mjs";

/**
 * One Counter model host shared by the tests of a file: started before them, closed after them. Read `.host`
 * inside tests (it is set once `beforeAll` ran).
 */
export function useCounterHost(args: CounterArgs = { start: 0 }): { readonly host: ModelHost<Counter> } {
  let host: ModelHost<Counter> | undefined;
  beforeAll(async () => {
    host = await ModelHost.start(Counter, args);
  });
  afterAll(async () => {
    await host?.close();
  });
  return {
    get host(): ModelHost<Counter> {
      if (host === undefined) throw new Error("the shared host is started in beforeAll");
      return host;
    },
  };
}

/** `Atomics.waitAsync` (Node ≥ 16; not in TypeScript's ES2023 lib). */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** A shared-memory gate a model operation can block on (Atomics, no sleeps): see Counter's `hold`. */
export class Gate {
  /** Slot 0: 1 once opened; slot 1: 1 once an operation entered the gate. */
  readonly buffer = new SharedArrayBuffer(8);
  readonly #slots = new Int32Array(this.buffer);

  /** Resolves once an operation is waiting at the gate. */
  async entered(): Promise<void> {
    const waited = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.#slots, 1, 0);
    if (waited.async) await waited.value;
  }

  /** Lets the waiting operation go on. */
  open(): void {
    Atomics.store(this.#slots, 0, 1);
    Atomics.notify(this.#slots, 0);
  }
}

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
