// Sampler: turns one position's logits into a token id, owning its seeded PRNG and scratch buffers.
import { DEFAULT_SAMPLING, type SamplingParams } from "../generation/request.js";
import {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  applyTokenMask,
  argmax,
  sampleIndex,
  softmax,
} from "./processors.js";
import { Rng, randomSeed } from "./rng.js";

/** Options of a {@link Sampler} beyond its sampling parameters. */
export interface SamplerOptions {
  /**
   * Ids from here on are never sampled: a checkpoint whose embedding is padded past its tokenizer's vocabulary
   * has logits for ids the tokenizer cannot decode. Default: every id of the logits row.
   */
  vocabSize?: number;
}

/**
 * Picks the next token from logits (penalties, then greedy or temperature / top-k / top-p / min-p sampling).
 *
 * The penalties see what they see in their reference implementations: the repetition penalty (HF) every token of
 * the prompt and the output, the frequency and presence penalties (OpenAI, vLLM) only generated tokens. The
 * counts are kept incrementally: the prompt is counted once at construction and every generated token must be
 * passed to {@link Sampler.accept} after it is sampled, so a step costs O(vocabulary), whatever the length so far.
 */
export class Sampler {
  /** The parameters in force, defaults filled in. */
  readonly params: Readonly<SamplingParams>;
  /** The seed actually used (the request's, or a random one): pass it back to reproduce a run. */
  readonly seed: number;

  private readonly rng: Rng;
  private readonly repetition: boolean; // repetition penalty on: keep `seen`
  private readonly frequencyPresence: boolean; // frequency / presence penalty on: keep `generated`
  private readonly vocabSize: number; // ids ≥ it are masked
  private seen: Int32Array = new Int32Array(0); // occurrences of each id in prompt + output (repetition penalty)
  private generated: Int32Array = new Int32Array(0); // occurrences of each id in the output (frequency / presence)
  private work = new Float32Array(0); // penalized / scaled logits
  private scratch = new Float32Array(0); // top-k selection
  private probs = new Float64Array(0);
  private heap = new Int32Array(0); // top-p

  /**
   * Make a sampler for one request; missing parameters take their neutral defaults. `promptIds` (bos included,
   * if the model adds one) are what the repetition penalty sees before the first generated token.
   */
  constructor(params: Partial<SamplingParams> = {}, promptIds: readonly number[] = [], options: SamplerOptions = {}) {
    const full = { ...DEFAULT_SAMPLING };
    for (const key of Object.keys(full) as (keyof SamplingParams)[]) {
      const v = params[key];
      if (v !== undefined) (full as Record<string, number | undefined>)[key] = v;
    }
    this.seed = full.seed ?? randomSeed();
    this.params = Object.freeze({ ...full, seed: this.seed });
    this.rng = new Rng(this.seed);
    this.repetition = full.repetitionPenalty !== 1;
    this.frequencyPresence = full.frequencyPenalty !== 0 || full.presencePenalty !== 0;
    const vocabSize = options.vocabSize ?? Infinity;
    if (vocabSize !== Infinity && !(Number.isSafeInteger(vocabSize) && vocabSize >= 1)) throw new RangeError(`vocabSize must be an integer ≥ 1, got ${vocabSize}`);
    this.vocabSize = vocabSize;
    if (this.repetition) for (const id of promptIds) this.seen = increment(this.seen, checkId(id, "promptIds"));
  }

  /**
   * The next token id for `logits` (one row, length = vocabulary), given the prompt and every token passed to
   * {@link Sampler.accept} so far; `allowed` (a grammar's bitmask, see `applyTokenMask`) leaves the other ids out.
   * `logits` is not modified. The sampler does not record the id itself: call `accept` with the token actually appended.
   */
  sample(logits: Float32Array, allowed?: Int32Array): number {
    const p = this.params;
    const n = logits.length;
    if (n === 0) throw new RangeError("logits must not be empty");
    this.ensure(n);
    const work = this.penalize(logits, allowed);
    if (p.temperature === 0) return argmax(work);

    applyTemperature(work, p.temperature); // shifted so the largest is 0: a tiny temperature cannot overflow
    if (p.topK > 0) applyTopK(work, p.topK, this.scratch);
    const probs = this.probs;
    // Greedy on the penalized logits when nothing is left to draw from (every logit -Infinity / NaN, or a
    // +Infinity one at temperature 1, which leaves softmax NaN).
    if (!softmax(work, probs)) return argmax(this.penalize(logits, allowed));
    if (p.topP < 1) applyTopP(probs, p.topP, this.heap);
    if (p.minP > 0) applyMinP(probs, p.minP);
    const id = sampleIndex(probs, this.rng.nextFloat());
    return id >= 0 ? id : argmax(this.penalize(logits, allowed));
  }

  /** Record `tokenId` as generated (once per step, after {@link Sampler.sample}): later steps penalize it. */
  accept(tokenId: number): void {
    checkId(tokenId, "tokenId");
    if (this.repetition) this.seen = increment(this.seen, tokenId);
    if (this.frequencyPresence) this.generated = increment(this.generated, tokenId);
  }

  /**
   * Copy `logits` into the work buffer, mask ids past the vocabulary and those `allowed` leaves out, and apply the
   * penalties there; returns the work buffer.
   */
  private penalize(logits: Float32Array, allowed: Int32Array | undefined): Float32Array {
    const p = this.params;
    const work = this.work;
    work.set(logits);
    if (this.vocabSize < work.length) work.fill(-Infinity, this.vocabSize);
    if (allowed !== undefined) applyTokenMask(work, allowed);
    if (this.repetition) applyRepetitionPenalty(work, this.seen, p.repetitionPenalty);
    if (this.frequencyPresence) applyFrequencyPresencePenalty(work, this.generated, p.frequencyPenalty, p.presencePenalty);
    return work;
  }

  /** Size the scratch buffers to `n` entries (reallocates only when the vocabulary size changes). */
  private ensure(n: number): void {
    if (this.work.length === n) return;
    this.work = new Float32Array(n);
    this.scratch = new Float32Array(n);
    this.probs = new Float64Array(n);
    this.heap = new Int32Array(n);
  }
}

/** `id` if it is a token id (a non-negative integer); RangeError naming `what` otherwise. */
function checkId(id: number, what: string): number {
  if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`${what}: token ids must be non-negative integers, got ${id}`);
  return id;
}

/**
 * Add one to `counts[id]`, first growing `counts` (at least doubling, so growth is amortized O(1)) when `id` is
 * beyond it; returns the array to keep. The counts only grow to the largest id seen, never to the vocabulary.
 */
function increment(counts: Int32Array, id: number): Int32Array {
  let c = counts;
  if (id >= c.length) {
    c = new Int32Array(Math.max(id + 1, 2 * counts.length));
    c.set(counts);
  }
  c[id]++;
  return c;
}
