/** One queued model operation, as the worker's queue sees it. */
export interface QueuedOperation {
  /** Unique among the queued operations; {@link OperationQueue.cancel} names it. */
  readonly id: number;
  /** Runs the operation (and reports its outcome); the next one starts after it settled. */
  run(): unknown;
  /** Reports the operation as cancelled; called instead of `run` when it leaves the queue unrun. */
  drop(): void;
}

/**
 * The model worker's FIFO: operations run strictly one at a time, in arrival order, even async ones. Between two
 * operations the worker returns to its event loop (`setImmediate`), so messages that arrived while one ran (new
 * calls, cancellations) are handled before the next starts: a cancelled operation that has not started never runs.
 */
export class OperationQueue {
  /** Waiting operations by id; a Map iterates in insertion order, so the first entry is the oldest. */
  readonly #waiting = new Map<number, QueuedOperation>();
  #busy = false;

  /** Operations waiting (not counting the one running). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Queues `op` behind every operation queued before it. */
  push(op: QueuedOperation): void {
    this.#waiting.set(op.id, op);
    this.#schedule();
  }

  /** Takes operation `id` out of the queue and drops it; false when it is not waiting (running, done or unknown). */
  cancel(id: number): boolean {
    const op = this.#waiting.get(id);
    if (op === undefined) return false;
    this.#waiting.delete(id);
    op.drop();
    return true;
  }

  #schedule(): void {
    if (this.#busy || this.#waiting.size === 0) return;
    this.#busy = true;
    setImmediate(() => void this.#runNext());
  }

  async #runNext(): Promise<void> {
    const next = this.#waiting.values().next();
    if (!next.done) {
      this.#waiting.delete(next.value.id);
      try {
        await next.value.run();
      } catch {
        // run() reports its own outcome; a throw here must not stop the queue
      }
    }
    this.#busy = false;
    this.#schedule();
  }
}
