// The engine: the actor the runtime hosts in its model worker. It owns a causal language model (any registered
// architecture), its tokenizer and the scheduler that batches every request's steps over the paged KV cache, and
// exposes them as named operations. Loading (load.ts), request handling (requests.ts) and the probes that run the
// model outside the batch (probes.ts) are modules of their own; this class wires them and is the operations' list.
import type { LoadContext } from "@actorlm/runtime";
import { LlmError } from "../errors.js";
import { StepCostModel } from "../generation/chunking.js";
import type { TokenizedRequest } from "../generation/request.js";
import { Scheduler, type StepDriver, type StepRecord } from "../generation/scheduler.js";
import type { StepOutput } from "../generation/sequence.js";
import type { CausalLM } from "../models/causal-lm.js";
import type { Tokenizer } from "../tokenizer.js";
import { parseEngineArgs, type LlmEngineArgs } from "./args.js";
import type { EngineStats, ModelInfo } from "./info.js";
import { loadEngine } from "./load.js";
import { benchmark, scoreWindow, type BenchmarkOptions, type BenchmarkTimes, type ProbeTarget, type WindowScore } from "./probes.js";
import { Requests, type SequenceStart } from "./requests.js";
import { GrammarEngine, type GrammarStats } from "../grammar/engine.js";

/**
 * Outputs a running request may have produced and not handed out yet: past it, it sits out of the steps (keeping
 * its KV blocks) until its handler takes them, so a stream nobody reads does not run on to maxTokens.
 */
const MAX_UNREAD_OUTPUTS = 8;

/** A causal language model of any registered architecture, hosted in the runtime's worker, generation exposed as operations. */
export class LlmEngine {
  static readonly moduleUrl: string = import.meta.url;

  private readonly scheduler: Scheduler;
  private readonly requests: Requests;
  private readonly probes: ProbeTarget;
  /** Compiled grammars and their matchers (constrained requests), on the model's grammar thread. */
  private readonly grammars: GrammarEngine;

  private constructor(
    private readonly lm: CausalLM,
    private readonly tokenizer: Tokenizer,
    private readonly info_: ModelInfo,
    ctx: LoadContext | undefined,
  ) {
    // In the worker, steps queue in its FIFO; in-process (no context), on the event loop.
    const driver: StepDriver = ctx ?? { enqueue: (task) => void setImmediate(task) };
    const { maxConcurrentRequests, maxQueuedRequests, prefixCaching, maxSequenceLength } = info_;
    const limits = { maxConcurrentRequests, maxQueuedRequests, maxUnreadOutputs: MAX_UNREAD_OUTPUTS };
    this.scheduler = new Scheduler(lm, driver, limits, new StepCostModel(), { prefixCaching });
    this.grammars = new GrammarEngine(info_.model, tokenizer, lm.config.vocabSize);
    this.requests = new Requests(this.scheduler, tokenizer, maxSequenceLength, ctx, this.grammars);
    this.probes = { lm, scheduler: this.scheduler, maxSequenceLength, sampleVocab: Math.min(tokenizer.vocabSize, info_.vocabSize) };
  }

  /** Checks load arguments on the caller's thread (the host runs it before starting a worker): VALIDATION naming the field. */
  static validateArgs(args: unknown): void {
    parseEngineArgs(args);
  }

  /**
   * Loads the model `args` names — a directory, or a Hugging Face id (`org/name[@revision]`) found in the local
   * cache (never downloaded here: see `downloadModel`) — reporting progress to the host. Bad arguments are
   * VALIDATION; a setting the engine or the model cannot honour is MODEL_LOAD naming it.
   */
  static async load(args: LlmEngineArgs | string, ctx?: LoadContext): Promise<LlmEngine> {
    const { lm, tokenizer, info } = await loadEngine(args, ctx === undefined ? undefined : (p) => ctx.progress(p));
    return new LlmEngine(lm, tokenizer, info, ctx);
  }

  /** Facts about the model (vocabulary, limits, special ids), with its kernels' memory in use and high-water mark now. */
  info(): ModelInfo {
    const kernels = this.lm.kernels;
    return { ...this.info_, memoryBytes: kernels.memoryBytes(), memoryHighWaterBytes: kernels.memoryHighWater() };
  }

  /**
   * Token ids of `text` (bos prepended unless `addSpecialTokens` is false), tokenized on this actor: a text longer
   * than `maxPromptBytes` is refused (VALIDATION naming `text`); tokenize long texts off the actor with `encodeOffThread`.
   */
  encode(text: string, addSpecialTokens = true): number[] {
    if (typeof text !== "string") throw new LlmError("VALIDATION", "text: must be a string", { field: ["text"] });
    const max = this.info_.maxPromptBytes;
    if (text.length * 3 > max && Buffer.byteLength(text, "utf8") > max) {
      throw new LlmError("VALIDATION", `text: longer than ${max} bytes; tokenize it with encodeOffThread`, { field: ["text"] });
    }
    return this.tokenizer.encode(text, { addSpecialTokens });
  }

  /** Text of `ids` (special tokens skipped). */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** Each id's own text (special tokens written out): what logprobs report as a token. */
  tokenTexts(ids: number[]): string[] {
    return ids.map((id) => this.tokenizer.decode([id], { skipSpecialTokens: false, cleanUpSpaces: false }));
  }

  /**
   * Queues a validated, tokenized request for the batch (`startSequence` makes one and calls this): it joins when
   * the KV pool and the limits allow, and its outputs come from {@link LlmEngine.next}. The engine checks only what
   * the model decides: the length (VALIDATION naming `prompt` or `maxTokens`) and the ids against the vocabulary
   * (naming `prompt`). OVERLOADED (at once) when maxConcurrentRequests run and maxQueuedRequests wait already.
   */
  submit(request: TokenizedRequest): SequenceStart {
    return this.requests.submit(request);
  }

  /**
   * The outputs of request `id` produced since the last call, waiting for the next step's when there are none yet
   * (in the worker the wait does not hold the queue). The last output carries finishReason, and the request is then
   * forgotten. Rejects with the error that ended the request, VALIDATION for an unknown id; a call cancelled by its
   * caller's signal while it waits cancels the request (its caller is gone).
   */
  next(id: number): StepOutput[] | Promise<StepOutput[]> {
    return this.requests.next(id);
  }

  /**
   * The next output of request `id` alone. When none is ready it runs steps itself until there is one (every
   * running request advances with it); OVERLOADED when no request can advance (the KV pool is held by requests
   * whose outputs nobody reads). Prefer {@link LlmEngine.next}, which waits without holding the worker.
   */
  step(id: number): StepOutput {
    return this.requests.step(id);
  }

  /** Cancels request `id`: it leaves the queue or the batch and its KV blocks go back now; true when it was live. */
  release(id: number): boolean {
    return this.requests.release(id);
  }

  /** Requests the model holds: waiting, running, or finished with outputs not taken yet. */
  activeSequences(): number {
    return this.scheduler.size;
  }

  /** Requests waiting and running, steps and preemptions so far, the KV pool's use and the prefix cache's hits. */
  stats(): EngineStats {
    const s = this.scheduler.stats();
    const { cachedBlocks, evictions } = this.scheduler.blockStats();
    const prefixHitRate = s.promptTokens === 0 ? 0 : s.cachedPromptTokens / s.promptTokens;
    return { ...s, ...this.kvUsage(), cachedBlocks, evictions, prefixHitRate };
  }

  /** The grammars' counters: compiles and their time, cache hits, what masks took and how long the model waited for them. */
  grammarStats(): GrammarStats {
    return this.grammars.stats();
  }

  /** The scheduler's last steps (up to 1024, oldest first): when each ended, how long it took, its rows. */
  recentSteps(): StepRecord[] {
    return this.scheduler.recentSteps();
  }

  /** KV cache use: blocks referenced, blocks a request can get (free or cached unreferenced), and the pool's size in tokens. */
  kvUsage(): { usedBlocks: number; freeBlocks: number; capacityTokens: number } {
    const blocks = this.scheduler.blocks;
    return { usedBlocks: blocks.usedBlocks, freeBlocks: blocks.freeBlocks, capacityTokens: blocks.capacityTokens };
  }

  /**
   * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
   * context): the summed negative log-probability of ids[1..] and how many were scored. NON_FINITE naming the
   * position when the model's logits hold NaN or ±inf.
   */
  score(ids: number[]): WindowScore {
    return scoreWindow(this.probes, ids);
  }

  /**
   * Times the engine alone (no sampling, detokenizing or messaging): `runs` times, a forward over `promptTokens`
   * seeded random ids, then `genTokens` greedy one-token forwards (end-of-sequence ignored).
   */
  benchmark(options: BenchmarkOptions): BenchmarkTimes {
    return benchmark(this.probes, options);
  }
}

/** @deprecated The old name of {@link LlmEngine}, which serves every architecture; removed in the next release. */
export const LlamaModel = LlmEngine;
/** @deprecated The old name of {@link LlmEngine}; removed in the next release. */
export type LlamaModel = LlmEngine;
