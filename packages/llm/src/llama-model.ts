// The model actor: what the runtime hosts in its worker. It owns the weights, the tokenizer and the scheduler that
// batches every request's steps (continuous batching over the paged KV cache), and exposes generation as named
// operations the handlers call: `submit` a request, take its `next` outputs, `release` it.
import { join } from "node:path";
import { InferenceError, integerSetting, jsRuntime, type JsRuntime, type LoadContext } from "@actorlm/runtime";
import { firstNonFinite } from "@actorlm/tensor";
import { LlmError, nonFiniteLogits } from "./errors.js";
import { StepCostModel } from "./generation/chunking.js";
import { Scheduler, type SchedulerStats, type StepDriver, type StepRecord } from "./generation/scheduler.js";
import { Sequence, type StepOutput } from "./generation/sequence.js";
import { fitMaxTokens, validateRequest, type GenerateRequest, type RequestLimits } from "./generation/request.js";
import { startKernels } from "./kernel-start.js";
import { parseModelArgs, refuseUnsupported, type LlamaModelArgs } from "./model-args.js";
import { DEFAULT_MAX_LOGIT_ROWS, type CausalLM } from "./models/causal-lm.js";
import { resolveModelDir } from "./hub/cache.js";
import { loadModel } from "./models/registry.js";
import { logSumExp } from "./sampling/processors.js";
import { Tokenizer } from "./tokenizer.js";
import type { KvSequence } from "./generation/block-manager.js";

/** Positions `score` runs through the model per forward pass: bounds its [rows, vocab] logits scratch. */
const SCORE_CHUNK = 64;
/**
 * Outputs a running request may have produced and not handed out yet: past it, it sits out of the steps (keeping
 * its KV blocks) until its handler takes them, so a stream nobody reads does not run on to maxTokens.
 */
const MAX_UNREAD_OUTPUTS = 8;

export type { LlamaModelArgs } from "./model-args.js";

/** Static facts about the loaded model. */
export interface ModelInfo {
  /** The model's directory (for a Hugging Face id, its snapshot folder in the local cache). */
  model: string;
  /** The model as given at load: a directory or a Hugging Face id. */
  source: string;
  architecture: string;
  /** Where the model runs ("cpu" or "gpu": what `device: "auto"` chose), and the WebGPU adapter (null off the GPU). */
  device: string;
  adapter: string | null;
  /** Why `device: "auto"` runs on the cpu (the gpu package is not installed, or no GPU was found); null otherwise. */
  fallback: string | null;
  /** Kernels the model runs on, the threads they use, and which SIMD build (wasm). */
  backend: string;
  threads: number;
  simd: string;
  /** Storage format of the weight matrices. */
  dtype: string;
  /** For a GGUF file: its `general.architecture` and how many matrices of each tensor type it holds (converted to `dtype` at load). */
  gguf?: { architecture: string; tensorTypes: Partial<Record<string, number>> };
  /** How the weights are stored, in words: which matrices are ternary (BitNet) and whether storing them so was lossy. */
  weights: string;
  /** The weight matrices by storage format: how many, their values, and the kernel memory they take (padding and scales included). */
  formats: Partial<Record<string, { matrices: number; values: number; bytes: number }>>;
  /** KV cache pool size in tokens. */
  kvCacheTokens: number;
  /** True when full KV blocks are shared between requests with the same prompt prefix (prefix caching). */
  prefixCaching: boolean;
  /** Most rows (tokens, every request together) one forward pass takes; longer prompts are prefilled in chunks. */
  maxBatchTokens: number;
  /** Most requests in the batch at once. */
  maxConcurrentRequests: number;
  /** Most requests waiting to join the batch before more are refused with OVERLOADED. */
  maxQueuedRequests: number;
  /** Bytes of kernel memory in use now (weights, buffers, KV cache, the ops' working memory). */
  memoryBytes: number;
  /**
   * The kernels' memory high-water mark in bytes: the most they have held at once (for wasm, the extent of the linear
   * memory in use). Sized at load from the model's limits, it stays flat however the batch shapes vary.
   */
  memoryHighWaterBytes: number;
  /** The JavaScript runtime the model runs on (node, bun or deno) and its version. */
  runtime: JsRuntime;
  /** Bytes of weights one decode step reads. */
  weightBytesPerToken: number;
  /** Weight values a prompt token multiplies in the matrix products (a multiply-add each; the embedding and head left out). */
  productValuesPerToken: number;
  /** Rows of the model's embedding (may exceed the tokenizer's vocabulary: such ids are never sampled). */
  vocabSize: number;
  maxSequenceLength: number;
  bosId: number | null;
  eosIds: number[];
  maxStopSequences: number;
  /** Most UTF-8 bytes a prompt that fits can have (Infinity when the tokenizer gives no bound); longer ones are refused untokenized. */
  maxPromptBytes: number;
}

/** What {@link LlamaModel.benchmark} measured, per run. */
export interface BenchmarkTimes {
  /** Milliseconds of each run's prefill (one forward over the prompt). */
  prefillMs: number[];
  /** Milliseconds of each run's decode (`genTokens` one-token forwards, each followed by an argmax). */
  decodeMs: number[];
}

/** A submitted request: its id, the prompt's token ids and the sampler seed in use. */
export interface SequenceStart {
  id: number;
  promptIds: readonly number[];
  seed: number;
}

/** A scored window: summed negative log-likelihood of its predicted tokens and how many there were. */
export interface WindowScore {
  nll: number;
  count: number;
}

/** What the scheduler counts, and the KV pool's use and prefix cache: for metrics and tests. */
export interface EngineStats extends SchedulerStats {
  /** Blocks referenced by requests (or lent to a scoring window or a benchmark). */
  usedBlocks: number;
  /** Blocks a request can get now: free ones plus cached ones nobody references. */
  freeBlocks: number;
  /** Cached blocks nobody references: kept for later prefix hits, evicted least recently used. */
  cachedBlocks: number;
  /** Cached blocks evicted to make room so far. */
  evictions: number;
  /** cachedPromptTokens / promptTokens (0 before any prompt). */
  prefixHitRate: number;
  capacityTokens: number;
}

/** A causal language model hosted in the runtime's worker, generation exposed as operations. */
export class LlamaModel {
  static readonly moduleUrl: string = import.meta.url;

  private readonly scheduler: Scheduler;
  /** Who submitted each live request (LoadContext.caller): a client that goes away gets its requests freed. */
  private readonly owners = new Map<number, number>();
  private nextId = 1;

  private constructor(
    private readonly lm: CausalLM,
    private readonly tokenizer: Tokenizer,
    private readonly info_: ModelInfo,
    private readonly ctx: LoadContext | undefined,
  ) {
    // In the worker, steps queue in its FIFO; in-process (no context), on the event loop.
    const driver: StepDriver = ctx ?? { enqueue: (task) => void setImmediate(task) };
    const { maxConcurrentRequests, maxQueuedRequests, prefixCaching } = info_;
    const limits = { maxConcurrentRequests, maxQueuedRequests, maxUnreadOutputs: MAX_UNREAD_OUTPUTS };
    this.scheduler = new Scheduler(lm, driver, limits, new StepCostModel(), { prefixCaching });
  }

  /** Checks load arguments on the caller's thread (the host runs it before starting a worker): VALIDATION naming the field. */
  static validateArgs(args: unknown): void {
    parseModelArgs(args);
  }

  /**
   * Load config, weights and tokenizer from `args.model` — a directory, or a Hugging Face id (`org/name[@revision]`)
   * found in the local cache (never downloaded here: see `downloadModel`) — reporting progress to the host. Bad
   * arguments are VALIDATION; a setting the engine or the model cannot honour is MODEL_LOAD naming it.
   */
  static async load(args: LlamaModelArgs | string, ctx?: LoadContext): Promise<LlamaModel> {
    const { config, maxStopSequences, kvCacheTokens, maxBatchTokens, maxConcurrentRequests, maxQueuedRequests, prefixCaching, checkWeights, verbose } = parseModelArgs(args);
    const { format, plan } = refuseUnsupported(config);
    const dir = resolveModelDir(config.model);
    const { kernels, device, adapter, fallback } = await startKernels(plan, config.threads, verbose);
    const onProgress = ctx ? (p: { stage: string; done: number; total: number; unit: string }) => ctx.progress(p) : undefined;
    let loaded: Awaited<ReturnType<typeof loadModel>>;
    let tokenizer: Tokenizer;
    let maxSequenceLength: number;
    try {
      // every running request may want its logits in the same step
      const maxLogitRows = Math.max(DEFAULT_MAX_LOGIT_ROWS, maxConcurrentRequests);
      // a GGUF file given no dtype keeps the format nearest to its own tensor types
      const asked = typeof args === "string" || args.dtype === undefined ? undefined : format;
      loaded = await loadModel(dir, { kernels, format: asked, onProgress, kvCacheTokens, maxBatchTokens, maxLogitRows, checkWeights });
      tokenizer = await Tokenizer.fromDir(dir, { modelConfig: loaded.rawConfig });
      checkVocabulary(tokenizer, loaded.model.config.vocabSize, dir);
      maxSequenceLength = checkLimits(loaded.model, config.maxSequenceLength, maxConcurrentRequests);
    } catch (error) {
      await kernels.dispose();
      throw error;
    }
    const { architecture: arch, model: lm } = loaded;
    const info: ModelInfo = {
      model: dir,
      source: config.model,
      architecture: arch.name,
      device,
      adapter,
      fallback,
      backend: kernels.name,
      threads: kernels.threads,
      simd: kernels.simd,
      dtype: loaded.format,
      weights: lm.storage ?? loaded.format,
      ...(loaded.gguf === undefined ? {} : { gguf: loaded.gguf }),
      formats: { ...lm.formats },
      kvCacheTokens: lm.kv.capacityTokens,
      prefixCaching,
      maxBatchTokens: lm.maxBatchTokens,
      maxConcurrentRequests,
      maxQueuedRequests,
      memoryBytes: kernels.memoryBytes(),
      memoryHighWaterBytes: kernels.memoryHighWater(),
      runtime: jsRuntime(),
      weightBytesPerToken: lm.weightBytesPerToken,
      productValuesPerToken: lm.productValuesPerToken,
      vocabSize: lm.config.vocabSize,
      maxSequenceLength,
      bosId: tokenizer.bosId,
      eosIds: [...tokenizer.eosIds],
      maxStopSequences,
      maxPromptBytes: tokenizer.maxTokenBytes * maxSequenceLength,
    };
    const model = new LlamaModel(lm, tokenizer, info, ctx);
    // A client thread that closes or exits mid-request frees its requests' KV blocks (the model itself stays).
    ctx?.onDisconnect((caller) => {
      for (const [id, owner] of model.owners) if (owner === caller) model.release(id);
    });
    return model;
  }

  /** Facts about the model (vocabulary, limits, special ids), with its kernels' memory in use and high-water mark now. */
  info(): ModelInfo {
    const kernels = this.lm.kernels;
    return { ...this.info_, memoryBytes: kernels.memoryBytes(), memoryHighWaterBytes: kernels.memoryHighWater() };
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

  /** The scheduler's last steps (up to 1024, oldest first): when each ended, how long it took, its rows. */
  recentSteps(): StepRecord[] {
    return this.scheduler.recentSteps();
  }

  /**
   * Token ids of `text` (bos prepended unless `addSpecialTokens` is false), tokenized on this actor: a text longer
   * than `maxPromptBytes` is refused (VALIDATION naming `text`); tokenize long texts off the actor with `encodeOffThread`.
   */
  encode(text: string, addSpecialTokens = true): number[] {
    if (typeof text !== "string") throw new LlmError("VALIDATION", "text: must be a string", { field: "text" });
    const max = this.info_.maxPromptBytes;
    if (text.length * 3 > max && Buffer.byteLength(text, "utf8") > max) {
      throw new LlmError("VALIDATION", `text: longer than ${max} bytes; tokenize it with encodeOffThread`, { field: "text" });
    }
    return this.tokenizer.encode(text, { addSpecialTokens });
  }

  /** Text of `ids` (special tokens skipped). */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** What requests are checked against: limits from this model's info. */
  private limits(): RequestLimits {
    const { maxSequenceLength, maxStopSequences, maxPromptBytes } = this.info_;
    return { maxSequenceLength, maxStopSequences, maxPromptBytes };
  }

  /**
   * Validates a request and queues it for the batch: it joins when the KV pool and the limits allow, and its outputs
   * come from {@link LlamaModel.next}. VALIDATION on a bad request; OVERLOADED (at once) when maxConcurrentRequests
   * run and maxQueuedRequests wait already. `promptIds` are the prompt's token ids when the caller tokenized it (off
   * this actor, as the ready-made handlers do: see `startSequence`); they are checked again here (count and range),
   * cheaply. Without them the prompt is tokenized here, after a prompt too long to fit was refused untokenized.
   */
  submit(request: GenerateRequest, promptIds?: readonly number[]): SequenceStart {
    const limits = this.limits();
    const normalized = validateRequest(request, limits);
    if (promptIds !== undefined && !Array.isArray(promptIds)) throw new LlmError("VALIDATION", "promptIds: must be an array of token ids", { field: "promptIds" });
    const given = typeof normalized.prompt === "string" ? undefined : normalized.prompt; // a prompt of token ids
    const ids = promptIds ?? given ?? this.tokenizer.encode(normalized.prompt as string);
    const maxTokens = fitMaxTokens(ids.length, normalized.maxTokens, limits); // refuses a prompt too long before scanning it
    if (given !== undefined) checkIds(given, "prompt", 1, this.tokenizer.vocabSize);
    if (promptIds !== undefined) checkIds(ids, "promptIds", 1, this.tokenizer.vocabSize);
    const sequence = new Sequence(this.tokenizer, normalized, ids, maxTokens, this.scheduler.blocks.sequence());
    const id = this.nextId;
    this.scheduler.submit(id, sequence); // OVERLOADED when full: the id stays unused
    this.nextId++;
    this.owners.set(id, this.ctx?.caller ?? 0);
    return { id, promptIds: ids, seed: sequence.seed };
  }

  /** The same as {@link LlamaModel.submit} (its older name). */
  start(request: GenerateRequest, promptIds?: readonly number[]): SequenceStart {
    return this.submit(request, promptIds);
  }

  /**
   * The outputs of request `id` produced since the last call, waiting for the next step's when there are none yet
   * (in the worker the wait does not hold the queue). The last output carries finishReason, and the request is then
   * forgotten. Rejects with the error that ended the request, VALIDATION for an unknown id; a call cancelled by its
   * caller's signal while it waits cancels the request (its caller is gone).
   */
  next(id: number): StepOutput[] | Promise<StepOutput[]> {
    let ready: StepOutput[] | undefined;
    try {
      ready = this.scheduler.take(id);
    } catch (error) {
      this.owners.delete(id);
      throw error;
    }
    if (ready !== undefined) return this.forgetIfDone(id, ready);
    const wait = (signal?: AbortSignal) =>
      this.scheduler.wait(id, signal).then(
        (outputs) => this.forgetIfDone(id, outputs),
        (error: unknown) => {
          this.owners.delete(id);
          throw error;
        },
      );
    return this.ctx === undefined ? wait() : this.ctx.detach(wait);
  }

  /**
   * The next output of request `id` alone. When none is ready it runs steps itself until there is one (every
   * running request advances with it); OVERLOADED when no request can advance (the KV pool is held by requests
   * whose outputs nobody reads). Prefer {@link LlamaModel.next}, which waits without holding the worker.
   */
  step(id: number): StepOutput {
    try {
      for (;;) {
        const output = this.scheduler.takeOne(id);
        if (output !== undefined) {
          if (output.finishReason !== undefined) this.owners.delete(id);
          return output;
        }
        if (!this.scheduler.step()) throw new InferenceError("OVERLOADED", `request ${id} cannot advance: every request that could is waiting for its outputs to be read`);
      }
    } catch (error) {
      if (!this.scheduler.has(id)) this.owners.delete(id);
      throw error;
    }
  }

  /** Cancels request `id`: it leaves the queue or the batch and its KV blocks go back now; true when it was live. */
  release(id: number): boolean {
    this.owners.delete(id);
    return this.scheduler.cancel(id);
  }

  /** Fails every request that has not started yet with NOT_READY (`reason` as the message): a server shutting down. */
  refuseWaiting(reason = "the model is shutting down"): number {
    return this.scheduler.refuseWaiting(new InferenceError("NOT_READY", reason));
  }

  /** `outputs`, after forgetting the owner of request `id` when they end it. */
  private forgetIfDone(id: number, outputs: StepOutput[]): StepOutput[] {
    if (outputs.at(-1)?.finishReason !== undefined) this.owners.delete(id);
    return outputs;
  }

  /** KV cache use: blocks referenced, blocks a request can get (free or cached unreferenced), and the pool's size in tokens. */
  kvUsage(): { usedBlocks: number; freeBlocks: number; capacityTokens: number } {
    const blocks = this.scheduler.blocks;
    return { usedBlocks: blocks.usedBlocks, freeBlocks: blocks.freeBlocks, capacityTokens: blocks.capacityTokens };
  }

  /**
   * Times the engine alone (no sampling, detokenizing or messaging): `runs` times, a forward over `promptTokens`
   * seeded random ids, then `genTokens` greedy one-token forwards (end-of-sequence ignored).
   */
  benchmark(options: { promptTokens: number; genTokens: number; runs: number; seed?: number }): BenchmarkTimes {
    const P = integerSetting("promptTokens", options?.promptTokens, 1), G = integerSetting("genTokens", options?.genTokens, 1);
    const runs = integerSetting("runs", options?.runs, 1);
    if (P + G > this.info_.maxSequenceLength) {
      throw new LlmError("VALIDATION", `promptTokens + genTokens (${P + G}) exceeds the max sequence length ${this.info_.maxSequenceLength}`, { field: "genTokens" });
    }
    const kv = this.allocate(P + G);
    let state = (options.seed ?? 1) >>> 0 || 1;
    const vocab = Math.min(this.tokenizer.vocabSize, this.info_.vocabSize);
    const prompt = Array.from({ length: P }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state % vocab;
    });
    const times: BenchmarkTimes = { prefillMs: [], decodeMs: [] };
    try {
      for (let run = 0; run < runs; run++) {
        const t0 = performance.now();
        let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
        for (let from = 0; from < P; from += this.lm.maxBatchTokens) {
          const tokens = prompt.slice(from, from + this.lm.maxBatchTokens);
          logits = this.scheduler.forwardOutside([{ tokens, start: from, blocks: kv.blocks, logits: from + tokens.length === P ? "last" : "none" }]);
        }
        const t1 = performance.now();
        for (let g = 0; g < G; g++) {
          const next = argmax(logits.subarray(0, vocab));
          logits = this.scheduler.forwardOutside([{ tokens: [next], start: P + g, blocks: kv.blocks }]);
        }
        times.prefillMs.push(t1 - t0);
        times.decodeMs.push(performance.now() - t1);
      }
    } finally {
      this.scheduler.giveBack(kv);
    }
    return times;
  }

  /**
   * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
   * context): the summed negative log-probability of ids[1..] and how many were scored. NON_FINITE naming the
   * position when the model's logits hold NaN or ±inf.
   */
  score(ids: number[]): WindowScore {
    const { maxSequenceLength, vocabSize } = this.info_;
    if (!Array.isArray(ids) || ids.length > maxSequenceLength) {
      throw new LlmError("VALIDATION", `ids: must be an array of 2 .. ${maxSequenceLength} token ids`, { field: "ids" });
    }
    checkIds(ids, "ids", 2, vocabSize);
    // ids[0 .. n-2] go through the cache a chunk at a time; row r of a chunk's logits predicts the id after it
    const inputs = ids.length - 1;
    const kv = this.allocate(inputs);
    const chunkSize = Math.min(SCORE_CHUNK, this.lm.maxLogitRows, this.lm.maxBatchTokens);
    let nll = 0;
    try {
      for (let from = 0; from < inputs; from += chunkSize) {
        const chunk = ids.slice(from, Math.min(from + chunkSize, inputs));
        const logits = this.scheduler.forwardOutside([{ tokens: chunk, start: from, blocks: kv.blocks, logits: "all" }]);
        for (let r = 0; r < chunk.length; r++) {
          const row = logits.subarray(r * vocabSize, (r + 1) * vocabSize);
          const bad = firstNonFinite(row);
          if (bad >= 0) throw nonFiniteLogits(row[bad], bad, from + r);
          nll -= row[ids[from + r + 1]] - logSumExp(row);
        }
      }
    } finally {
      this.scheduler.giveBack(kv);
    }
    return { nll, count: inputs };
  }

  /**
   * KV blocks for `positions` positions, borrowed from the scheduler's block manager outside the batch (a scoring
   * window, a benchmark): running requests give theirs back if need be (they run their tokens again later).
   * OVERLOADED when the whole pool is too small.
   */
  private allocate(positions: number): KvSequence {
    const kv = this.scheduler.borrow(positions);
    if (kv === undefined) throw new InferenceError("OVERLOADED", `the KV cache has no room for ${positions} positions (it holds ${this.lm.kv.capacityTokens})`);
    return kv;
  }
}

/**
 * Refuse (MODEL_LOAD, naming both numbers) a tokenizer with ids the model has no embedding row for: a larger
 * vocabulary, or a bos / eos id (from tokenizer_config, generation_config or config.json) ≥ vocab_size.
 */
function checkVocabulary(tokenizer: Tokenizer, vocabSize: number, dir: string): void {
  const refuse = (file: string, what: string): never => {
    throw new LlmError("MODEL_LOAD", `${file}: ${what} the model's vocab_size ${vocabSize}`, { file });
  };
  if (tokenizer.vocabSize > vocabSize) refuse(join(dir, "tokenizer.json"), `the tokenizer's vocabulary of ${tokenizer.vocabSize} ids exceeds`);
  if (tokenizer.bosId !== null && tokenizer.bosId >= vocabSize) refuse(dir, `bos token id ${tokenizer.bosId} is not below`);
  for (const id of tokenizer.eosIds) if (id >= vocabSize) refuse(dir, `eos token id ${id} is not below`);
}

/**
 * The max sequence length in force (asked, or the model's own and what the KV pool holds), after refusing
 * (MODEL_LOAD naming the setting) limits the model cannot honour: a sequence longer than the model's positions or
 * than the KV pool, more requests in the batch than rows in a forward pass.
 */
function checkLimits(lm: CausalLM, asked: number | undefined, maxConcurrentRequests: number): number {
  const modelMax = lm.config.maxPositionEmbeddings;
  const capacity = lm.kv.capacityTokens;
  const refuse = (field: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${field} ${why}`, { field });
  };
  if (asked !== undefined && asked > modelMax) refuse("maxSequenceLength", `${asked} exceeds the model's max_position_embeddings ${modelMax}`);
  if (asked !== undefined && asked > capacity) refuse("kvCacheTokens", `${capacity} cannot hold one sequence of maxSequenceLength ${asked}`);
  if (maxConcurrentRequests > lm.maxBatchTokens) refuse("maxConcurrentRequests", `${maxConcurrentRequests} exceeds maxBatchTokens ${lm.maxBatchTokens} (every running request needs a row per step)`);
  return asked ?? Math.min(modelMax, capacity); // unset: the model's own limit, if the KV pool holds it
}

/** Index of the largest value (the first on ties). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Refuses (VALIDATION naming `field`) a list of fewer than `min` ids, or one with an id outside 0 .. vocabSize - 1. */
function checkIds(ids: unknown, field: string, min: number, vocabSize: number): void {
  if (!Array.isArray(ids) || ids.length < min) throw new LlmError("VALIDATION", `${field}: must be an array of at least ${min} token ids`, { field });
  const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0 || id >= vocabSize);
  if (bad >= 0) throw new LlmError("VALIDATION", `${field}: id ${String(ids[bad])} at ${bad} is outside the vocabulary 0 .. ${vocabSize - 1}`, { field });
}
