// One request's generation state in the scheduler: the tokens its KV cache must hold (prompt, then each sampled
// token), how many it holds so far, and its own sampler, detokenizer and stop matcher. It never runs the model:
// the scheduler feeds its pending tokens to a batched forward and hands back the logits of its last position.
import { firstNonFinite } from "@actorlm/tensor";
import { LlmError, nonFiniteLogits } from "../errors.js";
import type { KvSequence } from "./block-manager.js";
import { Sampler } from "../sampling/sampler.js";
import type { Tokenizer } from "../tokenizer.js";
import { StreamingDetokenizer } from "./detokenizer.js";
import type { FinishReason, NormalizedRequest } from "./request.js";
import type { SequenceGrammar } from "../grammar/engine.js";
import { stepLogprobs, type TokenLogprob } from "../sampling/logprobs.js";
import { StopMatcher } from "./stop.js";

/** What one decode step produced: the sampled token, the text it releases, and why generation ended (if it did). */
export interface StepOutput {
  tokenId: number;
  /** Text this step releases; concatenated over all steps it is the whole completion. */
  text: string;
  /** True for a special token (eos): it is reported, never rendered as text. */
  special: boolean;
  /** Set on the last step only. */
  finishReason?: FinishReason;
  /** With logprobs: the token's log-probability under the model (before any sampling processor). */
  logprob?: number;
  /** With topLogprobs > 0: the most likely tokens at this step, most likely first. */
  topLogprobs?: TokenLogprob[];
}

/** What a sequence has beyond its request: the grammar's matcher (constrained requests). */
export interface SequenceOptions {
  grammar?: SequenceGrammar;
}

/**
 * Generates one completion. Its block table (handed in empty, from the scheduler's block manager) holds the
 * first `cached` of `tokens`; the rest are `pending`: the prompt's remainder while prefilling, then the one token
 * sampled last. After a forward ran the pending tokens the scheduler calls {@link Sequence.advance}, and with
 * the logits of the last one {@link Sequence.sample}, which picks the next token, turns it into text (holding back
 * broken UTF-8 and possible stop strings) and says when generation ends.
 */
export class Sequence {
  /** The prompt's ids, then every sampled token that will be fed back (the last one is not, once finished). */
  readonly tokens: number[];
  private readonly sampler: Sampler;
  private readonly detokenizer: StreamingDetokenizer;
  private readonly stops: StopMatcher;
  private readonly ignoreEos: boolean;
  private readonly grammar: SequenceGrammar | undefined;
  private readonly topLogprobs: number | undefined;
  private generatedCount = 0;
  private done = false;

  /** A sequence for `request` over `promptIds`, generating at most `maxTokens` tokens into `kv` (empty so far). */
  constructor(
    private readonly tokenizer: Tokenizer,
    request: Pick<NormalizedRequest, "sampling" | "stop" | "ignoreEos" | "topLogprobs">,
    readonly promptIds: readonly number[],
    private readonly maxTokens: number,
    readonly kv: KvSequence,
    options: SequenceOptions = {},
  ) {
    this.tokens = [...promptIds];
    this.sampler = new Sampler(request.sampling, promptIds, { vocabSize: tokenizer.vocabSize }); // never an id the tokenizer lacks
    this.grammar = options.grammar;
    this.topLogprobs = request.topLogprobs;
    this.detokenizer = new StreamingDetokenizer(tokenizer, { context: promptIds });
    this.stops = new StopMatcher(request.stop);
    this.ignoreEos = request.ignoreEos === true;
  }

  /** The sampler's seed (the request's, or the random one it drew). */
  get seed(): number {
    return this.sampler.seed;
  }

  /** False while a constrained request's next-token mask is being computed: it cannot sample yet. */
  get ready(): boolean {
    return this.grammar === undefined || this.grammar.ready;
  }

  /** Calls `listener` whenever the sequence becomes {@link Sequence.ready} again. */
  onReady(listener: () => void): void {
    if (this.grammar !== undefined) this.grammar.onReady = listener;
  }

  /** Frees what the sequence holds outside the KV cache (its grammar matcher); called when it leaves the scheduler. */
  dispose(): void {
    this.grammar?.dispose();
  }

  /** Positions in the KV cache. */
  get cached(): number {
    return this.kv.length;
  }

  /** Tokens not in the cache yet (≥ 1 until the sequence finishes). */
  get pending(): number {
    return this.tokens.length - this.kv.length;
  }

  /** Tokens sampled so far. */
  get generated(): number {
    return this.generatedCount;
  }

  /** True once the last output was sampled. */
  get finished(): boolean {
    return this.done;
  }

  /** The next `n` pending tokens (what the next forward runs for this sequence). */
  input(n: number): number[] {
    return this.tokens.slice(this.kv.length, this.kv.length + n);
  }

  /** Records that a forward wrote the next `n` pending tokens to the cache. */
  advance(n: number): void {
    if (n < 1 || n > this.pending) throw new LlmError("VALIDATION", `cannot advance ${n} of ${this.pending} pending tokens`);
    this.kv.length += n;
  }

  /**
   * The next output, from the logits of the last cached position (every token must be cached): samples a token,
   * which becomes pending unless it ends generation. Throws VALIDATION once the sequence has finished, and
   * NON_FINITE, naming the position and the token id, when the logits hold NaN or ±inf (nothing is sampled).
   */
  sample(logits: Float32Array): StepOutput {
    if (this.done) throw new LlmError("VALIDATION", "sequence already finished");
    if (this.pending !== 0) throw new LlmError("VALIDATION", `sample() with ${this.pending} tokens not yet run through the model`);
    const bad = firstNonFinite(logits);
    if (bad >= 0) throw nonFiniteLogits(logits[bad], bad, this.cached - 1);
    const tokenId = this.sampler.sample(logits, this.grammar?.mask());
    this.sampler.accept(tokenId);
    this.generatedCount++;
    const complete = this.grammar?.accept(tokenId) ?? false; // the next mask is computed from here on
    const scores = this.topLogprobs === undefined ? undefined : stepLogprobs(logits, tokenId, this.topLogprobs);
    const out = (text: string, special: boolean): StepOutput => {
      const output: StepOutput = { tokenId, text, special };
      if (scores !== undefined) {
        output.logprob = scores.logprob;
        if (this.topLogprobs! > 0) output.topLogprobs = scores.top;
      }
      return output;
    };

    if (!this.ignoreEos && this.tokenizer.isEos(tokenId)) return this.finish(out(this.flush(), true), "stop");

    const { emit, stopped } = this.stops.push(this.detokenizer.push(tokenId));
    const special = this.tokenizer.isSpecial(tokenId);
    if (stopped || complete) return this.finish(out(emit + (complete ? this.flush() : ""), special), "stop");
    if (this.generatedCount >= this.maxTokens) return this.finish(out(emit + this.flush(), special), "length");

    this.tokens.push(tokenId);
    return out(emit, special);
  }

  /** Release everything still held back (end of stream without a stop string). */
  private flush(): string {
    return this.stops.push(this.detokenizer.flush()).emit + this.stops.flush();
  }

  private finish(output: StepOutput, reason: FinishReason): StepOutput {
    this.done = true;
    this.dispose();
    return { ...output, finishReason: reason };
  }
}
