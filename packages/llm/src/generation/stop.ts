// Stop-sequence matching over streamed text: never emit any part of a stop string, hold back as little as possible.

/** What one {@link StopMatcher.push} lets through. */
export interface StopResult {
  /** Text safe to emit now (everything before a stop string, or before a suffix that may become one). */
  emit: string;
  /** True once a stop string has been seen; nothing after it is ever emitted. */
  stopped: boolean;
}

/**
 * Watches streamed text for stop strings, which may span several deltas. Generation stops at the first push after
 * which any stop string occurs; the output ends just before the earliest occurrence in the text seen so far.
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private pending = ""; // held text: a suffix that is a prefix of some stop string
  private matchedStop: string | null = null;

  /** Watch for `stops` (empty strings are ignored; validateRequest rejects them). */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** True once a stop string was found. */
  get stopped(): boolean {
    return this.matchedStop !== null;
  }

  /** The stop string that ended the stream, or null. */
  get matched(): string | null {
    return this.matchedStop;
  }

  /** Feed a text delta; returns what may be emitted and whether a stop string was reached. */
  push(delta: string): StopResult {
    if (this.matchedStop !== null) return { emit: "", stopped: true };
    if (this.stops.length === 0) return { emit: delta, stopped: false };
    const text = this.pending + delta;

    // earliest stop occurrence (longest stop on a tie); only text before it is emitted
    let at = -1;
    for (const stop of this.stops) {
      const i = text.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at || (i === at && stop.length > (this.matchedStop ?? "").length))) {
        at = i;
        this.matchedStop = stop;
      }
    }
    if (at >= 0) {
      this.pending = "";
      return { emit: text.slice(0, at), stopped: true };
    }

    const hold = this.heldSuffixLength(text);
    this.pending = text.slice(text.length - hold);
    return { emit: text.slice(0, text.length - hold), stopped: false };
  }

  /** End of stream without a stop (e.g. length limit): release the held text. */
  flush(): string {
    const rest = this.pending;
    this.pending = "";
    return this.matchedStop !== null ? "" : rest;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
  private heldSuffixLength(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      for (let len = Math.min(stop.length - 1, text.length); len > best; len--) {
        if (text.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
