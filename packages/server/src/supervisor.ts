// Supervision of one model worker: when a Ready model's worker dies (state `error`), reset() it after a delay that
// doubles with each crash in a row (capped), until it serves again. A model that stayed Ready long enough starts
// over at the first delay. A restart that fails to load is retried the same way.
import { BackendState, type ModelHost, type StateChange } from "@actorlm/runtime";

/** Restart timing. */
export interface RestartPolicy {
  /** Delay before the first restart (ms). Default 500. */
  initialDelayMs?: number;
  /** Longest delay between restarts (ms). Default 30 000. */
  maxDelayMs?: number;
  /** Ready this long (ms) and the next crash counts as the first again. Default 60 000. */
  stableMs?: number;
}

/** What the supervisor reports. */
export interface SupervisorEvents {
  /** A restart is scheduled `delayMs` from now (the `attempt`-th in a row, from 1). */
  scheduled(attempt: number, delayMs: number, cause: StateChange): void;
  /** A restart attempt finished: the model is Ready again, or the reset failed (`error`). */
  restarted(attempt: number, error?: unknown): void;
}

/** Watches one host and restarts its worker after a crash, with exponential backoff. */
export class Supervisor {
  readonly #host: ModelHost<object>;
  readonly #initial: number;
  readonly #max: number;
  readonly #stable: number;
  readonly #events: Partial<SupervisorEvents>;
  #attempt = 0;
  #readySince = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #onState = (change: StateChange): void => this.#observe(change);

  /** Starts watching `host` (it must have been started by its owner; the supervisor only restarts). */
  constructor(host: ModelHost<object>, policy: RestartPolicy = {}, events: Partial<SupervisorEvents> = {}) {
    this.#host = host;
    this.#initial = policy.initialDelayMs ?? 500;
    this.#max = policy.maxDelayMs ?? 30_000;
    this.#stable = policy.stableMs ?? 60_000;
    this.#events = events;
    if (host.state === BackendState.Ready) this.#readySince = Date.now();
    host.on("state", this.#onState);
  }

  /** Restarts in a row since the model was last stable. */
  get attempts(): number {
    return this.#attempt;
  }

  /** Stops watching and cancels a scheduled restart. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#host.off("state", this.#onState);
  }

  #observe(change: StateChange): void {
    if (this.#stopped) return;
    if (change.state === BackendState.Ready) {
      this.#readySince = Date.now();
      return;
    }
    if (change.state !== BackendState.Error || this.#timer !== undefined || this.#host.closed) return;
    if (change.previous === BackendState.Ready && Date.now() - this.#readySince >= this.#stable) this.#attempt = 0;
    const attempt = ++this.#attempt;
    const delay = Math.min(this.#max, this.#initial * 2 ** (attempt - 1));
    this.#events.scheduled?.(attempt, delay, change);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped || this.#host.closed) return;
      // A failed reset moves the host to `error` again, which schedules the next attempt.
      this.#host.reset().then(
        () => this.#events.restarted?.(attempt),
        (error: unknown) => this.#events.restarted?.(attempt, error),
      );
    }, delay);
    this.#timer.unref();
  }
}
