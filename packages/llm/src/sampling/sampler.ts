// Sampler: turns one position's logits into a token id, owning its seeded PRNG and scratch buffers.
import { DEFAULT_SAMPLING, type SamplingParams } from "../generation/request.js";
import {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  countTokens,
  sampleIndex,
  softmax,
} from "./processors.js";
import { Rng, randomSeed } from "./rng.js";

/** Picks the next token from logits (penalties, then greedy or temperature / top-k / top-p / min-p sampling). */
export class Sampler {
  /** The parameters in force, defaults filled in. */
  readonly params: Readonly<SamplingParams>;
  /** The seed actually used (the request's, or a random one): pass it back to reproduce a run. */
  readonly seed: number;

  private readonly rng: Rng;
  private work = new Float32Array(0); // penalized / scaled logits
  private scratch = new Float32Array(0); // top-k selection
  private probs = new Float64Array(0);
  private heap = new Int32Array(0); // top-p
  private counts = new Int32Array(0); // occurrences of each id in the history

  /** Make a sampler for one request; missing parameters take their neutral defaults. */
  constructor(params: Partial<SamplingParams> = {}) {
    const full = { ...DEFAULT_SAMPLING };
    for (const key of Object.keys(full) as (keyof SamplingParams)[]) {
      const v = params[key];
      if (v !== undefined) (full as Record<string, number | undefined>)[key] = v;
    }
    this.seed = full.seed ?? randomSeed();
    this.params = Object.freeze({ ...full, seed: this.seed });
    this.rng = new Rng(this.seed);
  }

  /**
   * The next token id for `logits` (one row, length = vocabulary); `history` is the sequence so far (the caller
   * chooses whether it includes the prompt) and feeds the penalties. `logits` is not modified.
   */
  sample(logits: Float32Array, history: readonly number[] = []): number {
    const p = this.params;
    const n = logits.length;
    if (n === 0) throw new RangeError("logits must not be empty");
    this.ensure(n);
    const work = this.work;
    work.set(logits);

    const penalize = p.repetitionPenalty !== 1 || p.frequencyPenalty !== 0 || p.presencePenalty !== 0;
    if (penalize && history.length > 0) {
      const counts = this.counts;
      counts.fill(0);
      countTokens(history, counts);
      if (p.repetitionPenalty !== 1) applyRepetitionPenalty(work, counts, p.repetitionPenalty);
      if (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) {
        applyFrequencyPresencePenalty(work, counts, p.frequencyPenalty, p.presencePenalty);
      }
    }
    if (p.temperature === 0) return argmax(work);

    applyTemperature(work, p.temperature);
    if (p.topK > 0) applyTopK(work, p.topK, this.scratch);
    const probs = this.probs;
    if (!softmax(work, probs)) return argmax(logits); // everything masked (all -Infinity / NaN)
    if (p.topP < 1) applyTopP(probs, p.topP, this.heap);
    if (p.minP > 0) applyMinP(probs, p.minP);
    const id = sampleIndex(probs, this.rng.nextFloat());
    return id >= 0 ? id : argmax(work);
  }

  /** Size the scratch buffers to `n` entries (reallocates only when the vocabulary size changes). */
  private ensure(n: number): void {
    if (this.work.length === n) return;
    this.work = new Float32Array(n);
    this.scratch = new Float32Array(n);
    this.probs = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.counts = new Int32Array(n);
  }
}
