// Admission control for one model: at most `maxActive` generations run at once, at most `maxQueued` wait for a
// turn (first come, first served); beyond that a request is refused at once with OVERLOADED. A waiter whose signal
// aborts leaves the queue and never runs.
import { EventEmitter } from "eventemitter3";
import { InferenceError, cancelledError } from "@actorlm/runtime";

interface Waiter {
  grant(release: () => void): void;
  refuse(error: unknown): void;
}

/** Events of an {@link Admission}. */
export interface AdmissionEvents {
  /** The number running or waiting changed. */
  change: [active: number, queued: number];
}

/** A bounded set of running generations with a bounded FIFO of waiting ones. */
export class Admission extends EventEmitter<AdmissionEvents> {
  #active = 0;
  readonly #waiting: Waiter[] = [];

  /** `maxActive` ≥ 1 run at once; `maxQueued` ≥ 0 may wait. Throws RangeError naming a bad limit. */
  constructor(
    readonly maxActive: number,
    readonly maxQueued: number,
  ) {
    super();
    if (!Number.isSafeInteger(maxActive) || maxActive < 1) throw new RangeError(`maxActive must be an integer ≥ 1, got ${maxActive}`);
    if (!Number.isSafeInteger(maxQueued) || maxQueued < 0) throw new RangeError(`maxQueued must be an integer ≥ 0, got ${maxQueued}`);
  }

  /** Generations running now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a turn now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves with a `release` function (idempotent) once the caller may run. Rejects with OVERLOADED when
   * `maxQueued` requests already wait, with CANCELLED (the signal's reason as cause) when `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(cancelledError(signal.reason));
    if (this.#active < this.maxActive && this.#waiting.length === 0) return Promise.resolve(this.#grant());
    if (this.#waiting.length >= this.maxQueued) {
      return Promise.reject(
        new InferenceError("OVERLOADED", `server is busy: ${this.#active} requests running and ${this.#waiting.length} waiting (limits ${this.maxActive} and ${this.maxQueued})`),
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(cancelledError(signal?.reason));
        this.#changed();
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        refuse: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
      this.#changed();
    });
  }

  /** Refuses every waiting request with `error` (e.g. NOT_READY at shutdown); running ones are left alone. */
  refuseWaiting(error: InferenceError): void {
    for (const waiter of this.#waiting.splice(0)) waiter.refuse(error);
    this.#changed();
  }

  /** Takes a slot and returns its release function. */
  #grant(): () => void {
    this.#active++;
    this.#changed();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      const next = this.#waiting.shift();
      if (next !== undefined) next.grant(this.#grant());
      else this.#changed();
    };
  }

  #changed(): void {
    this.emit("change", this.#active, this.#waiting.length);
  }
}
