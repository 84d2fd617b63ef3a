// How many prompt rows a step may carry beside the decode rows of running streams: enough to admit new prompts
// quickly, few enough that a running stream's next token is not much later than without them. The cost of a step
// is learned from the steps themselves (the kernels, their threads and the machine decide it), as a line
// t = a + b·rows fitted by least squares over recent steps; a step with prefill rows is then planned to cost at
// most `stall` times a step with the decode rows alone. When more requests wait for their first token than
// streams decode, the allowed stall grows in proportion (up to `maxStall`): a few streams slow down for a while
// rather than many requests wait, since their prompts cost the same compute whenever they run.

/** Decides the prefill rows of a step from the number of decode rows in it. */
export interface ChunkPolicy {
  /** Most prefill rows beside `decodeRows` decode rows while `waiting` requests wait for their first token (≥ 1). */
  prefillRows(decodeRows: number, waiting: number): number;
  /** Records that a forward of `rows` rows took `ms` milliseconds. */
  observe(rows: number, ms: number): void;
}

/** Settings of {@link StepCostModel}. */
export interface StepCostOptions {
  /** A step with prefill rows may cost this many times the decode rows alone (> 1). Default 2. */
  readonly stall?: number;
  /** The most that stall grows to while more requests wait for their first token than streams decode. Default 6. */
  readonly maxStall?: number;
  /** Fewest prefill rows per step, so prompts always advance. Default 4. */
  readonly minRows?: number;
  /** Weight of older steps: each new one multiplies the past by this (0 < decay < 1). Default 0.97. */
  readonly decay?: number;
}

/**
 * A {@link ChunkPolicy} from a linear model of step time, fitted by exponentially weighted least squares. While
 * the steps seen so far do not tell the fixed cost from the cost per row (all had the same number of rows), it
 * assumes the cost is all per row (b = t / rows, a = 0): the cautious guess, which gives the fewest prefill rows.
 */
export class StepCostModel implements ChunkPolicy {
  readonly #stall: number;
  readonly #maxStall: number;
  readonly #minRows: number;
  readonly #decay: number;
  // weighted sums over observations: Σw, Σw·r, Σw·r², Σw·t, Σw·r·t
  #w = 0;
  #r = 0;
  #rr = 0;
  #t = 0;
  #rt = 0;

  /** A model with no observations yet. */
  constructor(options: StepCostOptions = {}) {
    this.#stall = options.stall ?? 2;
    this.#maxStall = options.maxStall ?? Math.max(6, this.#stall);
    this.#minRows = options.minRows ?? 4;
    this.#decay = options.decay ?? 0.97;
    if (!(this.#stall > 1)) throw new RangeError(`stall must be > 1, got ${this.#stall}`);
    if (!(this.#maxStall >= this.#stall)) throw new RangeError(`maxStall must be ≥ stall, got ${this.#maxStall}`);
    if (!(Number.isSafeInteger(this.#minRows) && this.#minRows >= 1)) throw new RangeError(`minRows must be an integer ≥ 1, got ${this.#minRows}`);
    if (!(this.#decay > 0 && this.#decay < 1)) throw new RangeError(`decay must be in (0, 1), got ${this.#decay}`);
  }

  observe(rows: number, ms: number): void {
    if (!(rows >= 1) || !(ms >= 0) || !Number.isFinite(ms)) return;
    const d = this.#decay;
    this.#w = this.#w * d + 1;
    this.#r = this.#r * d + rows;
    this.#rr = this.#rr * d + rows * rows;
    this.#t = this.#t * d + ms;
    this.#rt = this.#rt * d + rows * ms;
  }

  /** The fitted fixed cost and cost per row, in ms (a ≥ 0, b > 0); undefined before any observation. */
  fit(): { a: number; b: number } | undefined {
    if (this.#w === 0 || this.#t <= 0) return undefined;
    const meanR = this.#r / this.#w, meanT = this.#t / this.#w;
    const varR = this.#rr / this.#w - meanR * meanR;
    if (varR > 0.25) {                                  // rows varied enough to tell a from b
      const b = (this.#rt / this.#w - meanR * meanT) / varR;
      const a = meanT - b * meanR;
      if (b > 0 && a >= 0) return { a, b };
      if (b > 0) return { a: 0, b: meanT / meanR };     // a line through the origin fits better than a < 0
    }
    return { a: 0, b: meanT / meanR };
  }

  prefillRows(decodeRows: number, waiting = 0): number {
    const d = Math.max(1, decodeRows);
    const stall = Math.min(this.#maxStall, 1 + (this.#stall - 1) * Math.max(1, waiting / d));
    const fit = this.fit();
    if (fit === undefined) return Math.max(this.#minRows, Math.floor((stall - 1) * d));
    // t(d + p) ≤ stall · t(d)  ⇔  p ≤ (stall − 1) · (a / b + d)
    const rows = Math.floor((stall - 1) * (fit.a / fit.b + d));
    return Math.max(this.#minRows, rows);
  }
}
