// One request's outputs between the scheduler, which produces them a step at a time, and the caller, who takes
// them with `next` (everything produced since the last take, or a wait for the next step's).
import { InferenceError } from "@actorlm/runtime";
import type { StepOutput } from "./sequence.js";

/** Buffered outputs (or the error that ended the request) and at most one caller waiting for them. */
export class Outbox {
  #outputs: StepOutput[] = [];
  #error: unknown;
  #failed = false;
  #waiter: { resolve(outputs: StepOutput[]): void; reject(error: unknown): void } | undefined;

  /** Outputs produced and not taken yet. */
  get unread(): number {
    return this.#outputs.length;
  }

  /** True once the last output (or the error) was handed to the caller: nothing more will come. */
  closed = false;

  /** True while a caller waits. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  /** Adds an output (the last one carries finishReason); a waiting caller gets everything buffered. */
  push(output: StepOutput): void {
    this.#outputs.push(output);
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter.resolve(this.#drain());
    }
  }

  /** Ends the request with `error`: a waiting caller gets it now, a later one at its next take. */
  fail(error: unknown): void {
    this.#failed = true;
    this.#error = error;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      this.closed = true;
      waiter.reject(error);
    }
  }

  /** Everything buffered (undefined when nothing is); throws the request's error once it failed and is drained. */
  take(): StepOutput[] | undefined {
    if (this.#outputs.length > 0) return this.#drain();
    if (this.#failed) {
      this.closed = true;
      throw this.#error;
    }
    return undefined;
  }

  /** The oldest buffered output alone (undefined when nothing is); throws like {@link Outbox.take}. */
  takeOne(): StepOutput | undefined {
    if (this.#outputs.length === 0) return this.take()?.[0];
    const output = this.#outputs.shift()!;
    if (output.finishReason !== undefined) this.closed = true;
    return output;
  }

  /**
   * Waits for the next outputs; rejects with the request's error, or with `signal`'s reason when it aborts first
   * (after `onAbort` ran). One caller at a time: a second is refused with VALIDATION.
   */
  wait(signal: AbortSignal | undefined, onAbort: () => void): Promise<StepOutput[]> {
    let now: StepOutput[] | undefined;
    try {
      now = this.take();
    } catch (error) {
      return Promise.reject(error);
    }
    if (now !== undefined) return Promise.resolve(now);
    if (this.#waiter !== undefined) return Promise.reject(new InferenceError("VALIDATION", "another call already waits for this sequence's outputs"));
    if (signal?.aborted) {
      onAbort();
      return Promise.reject(signal.reason);
    }
    return new Promise<StepOutput[]>((resolve, reject) => {
      const abort = () => {
        if (this.#waiter !== waiter) return;
        this.#waiter = undefined;
        onAbort();
        reject(signal?.reason);
      };
      const waiter = {
        resolve: (outputs: StepOutput[]) => {
          signal?.removeEventListener("abort", abort);
          resolve(outputs);
        },
        reject: (error: unknown) => {
          signal?.removeEventListener("abort", abort);
          reject(error);
        },
      };
      this.#waiter = waiter;
      signal?.addEventListener("abort", abort, { once: true });
    });
  }

  #drain(): StepOutput[] {
    const outputs = this.#outputs;
    this.#outputs = [];
    if (outputs.at(-1)?.finishReason !== undefined) this.closed = true;
    return outputs;
  }
}
