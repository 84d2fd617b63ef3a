// One request's generation state: its KV slot, sampler (which counts the tokens for the penalties), detokenizer
// and stop matcher.
import { LlmError } from "../errors.js";
import type { KvCache } from "../kv-cache.js";
import type { CausalLM } from "../models/causal-lm.js";
import { Sampler } from "../sampling/sampler.js";
import type { Tokenizer } from "../tokenizer.js";
import { StreamingDetokenizer } from "./detokenizer.js";
import type { FinishReason, NormalizedRequest } from "./request.js";
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
}

/**
 * Generates one completion: prefill the prompt at construction, then `step()` samples a token, turns it into
 * text (holding back broken UTF-8 and possible stop strings) and runs it through the model for the next step.
 */
export class Sequence {
  private readonly cache: KvCache;
  private readonly logits: Float32Array; // next-token logits, owned (the model's buffer is reused)
  private readonly sampler: Sampler;
  private readonly detokenizer: StreamingDetokenizer;
  private readonly stops: StopMatcher;
  private generated = 0;
  private finished = false;

  /** Prefill `promptIds` into a fresh cache sized for the prompt plus `maxTokens` new tokens. */
  constructor(
    private readonly model: CausalLM,
    private readonly tokenizer: Tokenizer,
    request: NormalizedRequest,
    readonly promptIds: readonly number[],
    private readonly maxTokens: number,
  ) {
    this.cache = model.newCache(promptIds.length + maxTokens);
    this.sampler = new Sampler(request.sampling, promptIds, { vocabSize: tokenizer.vocabSize }); // never an id the tokenizer lacks
    this.detokenizer = new StreamingDetokenizer(tokenizer, { context: promptIds });
    this.stops = new StopMatcher(request.stop);
    this.logits = Float32Array.from(model.forward(promptIds, this.cache));
  }

  /** The sampler's seed (the request's, or the random one it drew). */
  get seed(): number {
    return this.sampler.seed;
  }

  /** Sample the next token and advance; throws LlmError VALIDATION once the sequence has finished. */
  step(): StepOutput {
    if (this.finished) throw new LlmError("VALIDATION", "sequence already finished");
    const tokenId = this.sampler.sample(this.logits);
    this.sampler.accept(tokenId);
    this.generated++;

    if (this.tokenizer.isEos(tokenId)) return this.finish({ tokenId, text: this.flush(), special: true }, "stop");

    const { emit, stopped } = this.stops.push(this.detokenizer.push(tokenId));
    const special = this.tokenizer.isSpecial(tokenId);
    if (stopped) return this.finish({ tokenId, text: emit, special }, "stop");
    if (this.generated >= this.maxTokens) return this.finish({ tokenId, text: emit + this.flush(), special }, "length");

    this.logits.set(this.model.forward([tokenId], this.cache));
    return { tokenId, text: emit, special };
  }

  /** Release everything still held back (end of stream without a stop string). */
  private flush(): string {
    return this.stops.push(this.detokenizer.flush()).emit + this.stops.flush();
  }

  private finish(output: StepOutput, reason: FinishReason): StepOutput {
    this.finished = true;
    return { ...output, finishReason: reason };
  }
}
