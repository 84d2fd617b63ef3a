// One request's generation state: its KV slot, sampler (which counts the tokens for the penalties), detokenizer
// and stop matcher.
import { InferenceError } from "@actorlm/runtime";
import { LlmError } from "../errors.js";
import type { KvSequence } from "../kv-cache.js";
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
 * It holds KV blocks for the prompt plus `maxTokens` from the start (refused with OVERLOADED when the pool
 * lacks them) and gives them back when it finishes or is released.
 */
export class Sequence {
  private readonly kv: KvSequence;
  private logits: Float32Array<ArrayBufferLike>; // next-token logits
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
    const kv = model.kv.allocate(promptIds.length + maxTokens);
    if (kv === undefined) {
      throw new InferenceError("OVERLOADED", `the KV cache has no room for ${promptIds.length + maxTokens} more positions (${model.kv.freeBlocks} of ${model.kv.spec.blocks} blocks free)`);
    }
    this.kv = kv;
    this.sampler = new Sampler(request.sampling, promptIds);
    this.detokenizer = new StreamingDetokenizer(tokenizer, { context: promptIds });
    this.stops = new StopMatcher(request.stop);
    try {
      this.logits = this.prefill(promptIds);
    } catch (error) {
      kv.free();
      throw error;
    }
  }

  /** Runs the prompt through the model in chunks of at most maxBatchTokens; returns the last position's logits. */
  private prefill(ids: readonly number[]): Float32Array<ArrayBufferLike> {
    let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
    for (let from = 0; from < ids.length; from += this.model.maxBatchTokens) {
      const tokens = ids.slice(from, from + this.model.maxBatchTokens);
      const last = from + tokens.length === ids.length;
      logits = this.advance(tokens, last);
    }
    return logits;
  }

  /** Runs `tokens` after the cached positions; the last one's logits when `wantLogits`. */
  private advance(tokens: readonly number[], wantLogits = true): Float32Array<ArrayBufferLike> {
    const { kv } = this;
    const logits = this.model.forward([{ tokens, start: kv.length, blocks: kv.blocks, logits: wantLogits ? "last" : "none" }]);
    kv.length += tokens.length;
    return logits;
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

    this.logits = this.advance([tokenId]);
    return { tokenId, text: emit, special };
  }

  /** Gives the KV blocks back (a finished sequence already did). */
  release(): void {
    this.kv.free();
  }

  /** Release everything still held back (end of stream without a stop string). */
  private flush(): string {
    return this.stops.push(this.detokenizer.flush()).emit + this.stops.flush();
  }

  private finish(output: StepOutput, reason: FinishReason): StepOutput {
    this.finished = true;
    this.kv.free();
    return { ...output, finishReason: reason };
  }
}
