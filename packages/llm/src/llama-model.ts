// The model actor: what the runtime hosts in its worker. It owns the weights, the tokenizer and one
// Sequence (KV slot) per request, and exposes generation as named operations the handlers call.
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { InferenceError, integerSetting, type KernelBackend, type LoadContext } from "@actorlm/runtime";
import { createKernels, type Kernels } from "@actorlm/tensor";
import { LlmError } from "./errors.js";
import { Sequence, type StepOutput } from "./generation/sequence.js";
import { fitMaxTokens, validateRequest, type GenerateRequest, type RequestLimits } from "./generation/request.js";
import { parseModelArgs, refuseUnsupported, type LlamaModelArgs } from "./model-args.js";
import type { CausalLM } from "./models/causal-lm.js";
import { loadModel } from "./models/registry.js";
import { logSumExp } from "./sampling/processors.js";
import { Tokenizer } from "./tokenizer.js";

/** Positions `score` runs through the model per forward pass: bounds its [rows, vocab] logits scratch. */
const SCORE_CHUNK = 64;

export type { LlamaModelArgs } from "./model-args.js";

/** Static facts about the loaded model. */
export interface ModelInfo {
  /** The model directory as given at load. */
  model: string;
  architecture: string;
  /** Kernels the model runs on, the threads they use, and which SIMD build (wasm). */
  backend: string;
  threads: number;
  simd: string;
  /** Storage format of the weight matrices. */
  dtype: string;
  /** How the weights are stored, in words: which matrices are ternary (BitNet) and whether storing them so was lossy. */
  weights: string;
  /** The weight matrices by storage format: how many, their values, and the kernel memory they take (padding and scales included). */
  formats: Partial<Record<string, { matrices: number; values: number; bytes: number }>>;
  /** KV cache pool size in tokens. */
  kvCacheTokens: number;
  /** Bytes of kernel memory in use (weights, buffers, KV cache). */
  memoryBytes: number;
  /** Bytes of weights one decode step reads. */
  weightBytesPerToken: number;
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

/** A started sequence: its slot id, the prompt's token ids and the sampler seed in use. */
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

/** A causal language model hosted in the runtime's worker, generation exposed as operations. */
export class LlamaModel {
  static readonly moduleUrl: string = import.meta.url;

  private readonly sequences = new Map<number, Sequence>();
  private nextId = 1;

  private constructor(
    private readonly lm: CausalLM,
    private readonly tokenizer: Tokenizer,
    private readonly info_: ModelInfo,
    private readonly maxSequences: number,
  ) {}

  /** Checks load arguments on the caller's thread (the host runs it before starting a worker): VALIDATION naming the field. */
  static validateArgs(args: unknown): void {
    parseModelArgs(args);
  }

  /**
   * Load config, weights and tokenizer from `args.model` (a directory), reporting progress to the host. Bad
   * arguments are VALIDATION; a setting the engine or the model cannot honour is MODEL_LOAD naming it.
   */
  static async load(args: LlamaModelArgs | string, ctx?: LoadContext): Promise<LlamaModel> {
    const { config, maxSequences, maxStopSequences, kvCacheTokens, maxBatchTokens } = parseModelArgs(args);
    const { format, backend } = refuseUnsupported(config);
    const kernels = await startKernels(backend, config.threads);
    const onProgress = ctx ? (p: { stage: string; done: number; total: number; unit: string }) => ctx.progress(p) : undefined;
    let loaded: Awaited<ReturnType<typeof loadModel>>;
    let tokenizer: Tokenizer;
    try {
      loaded = await loadModel(config.model, { kernels, format, onProgress, kvCacheTokens, maxBatchTokens });
      tokenizer = await Tokenizer.fromDir(config.model, { modelConfig: loaded.rawConfig });
      checkVocabulary(tokenizer, loaded.model.config.vocabSize, config.model);
    } catch (error) {
      await kernels.dispose();
      throw error;
    }
    const { architecture: arch, model: lm } = loaded;

    const modelMax = lm.config.maxPositionEmbeddings;
    const maxSequenceLength = config.maxSequenceLength ?? modelMax; // unset: the model's own limit
    if (maxSequenceLength > modelMax) {
      throw new LlmError("MODEL_LOAD", `maxSequenceLength ${maxSequenceLength} exceeds the model's max_position_embeddings ${modelMax}`, { field: "maxSequenceLength" });
    }
    const info: ModelInfo = {
      model: config.model,
      architecture: arch.name,
      backend: kernels.name,
      threads: kernels.threads,
      simd: kernels.simd,
      dtype: format,
      weights: lm.storage ?? format,
      formats: { ...lm.formats },
      kvCacheTokens: lm.kv.capacityTokens,
      memoryBytes: kernels.memoryBytes(),
      weightBytesPerToken: lm.weightBytesPerToken,
      vocabSize: lm.config.vocabSize,
      maxSequenceLength,
      bosId: tokenizer.bosId,
      eosIds: [...tokenizer.eosIds],
      maxStopSequences,
      maxPromptBytes: tokenizer.maxTokenBytes * maxSequenceLength,
    };
    return new LlamaModel(lm, tokenizer, info, maxSequences);
  }

  /** Static facts about the model (vocabulary, limits, special ids). */
  info(): ModelInfo {
    return this.info_;
  }

  /** Number of live sequences (KV slots in use). */
  activeSequences(): number {
    return this.sequences.size;
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
   * Validate a request, give it a KV slot and prefill it; VALIDATION / OVERLOADED on refusal. `promptIds` are
   * the prompt's token ids when the caller tokenized it (off this actor, as the ready-made handlers do: see
   * `startSequence`); they are checked again here (count and range), cheaply. Without them the prompt is
   * tokenized here, after a prompt too long to fit was refused untokenized.
   */
  start(request: GenerateRequest, promptIds?: readonly number[]): SequenceStart {
    const limits = this.limits();
    const normalized = validateRequest(request, limits);
    if (promptIds !== undefined && !Array.isArray(promptIds)) throw new LlmError("VALIDATION", "promptIds: must be an array of token ids", { field: "promptIds" });
    const ids = promptIds ?? this.tokenizer.encode(normalized.prompt);
    const maxTokens = fitMaxTokens(ids.length, normalized.maxTokens, limits); // refuses a prompt too long before scanning it
    if (promptIds !== undefined) checkIds(ids, "promptIds", 1, this.tokenizer.vocabSize);
    if (this.sequences.size >= this.maxSequences) {
      throw new InferenceError("OVERLOADED", `all ${this.maxSequences} sequence slots are in use`);
    }
    const sequence = new Sequence(this.lm, this.tokenizer, normalized, ids, maxTokens);
    const id = this.nextId++;
    this.sequences.set(id, sequence);
    return { id, promptIds: ids, seed: sequence.seed };
  }

  /** One decode step of sequence `id`; the slot is freed when the step finishes the sequence. */
  step(id: number): StepOutput {
    const sequence = this.sequences.get(id);
    if (!sequence) throw new InferenceError("VALIDATION", `no live sequence ${id}`);
    const out = sequence.step();
    if (out.finishReason) this.sequences.delete(id);
    return out;
  }

  /** Free sequence `id`'s KV slot (cancelled or failed requests); true when it was still live. */
  release(id: number): boolean {
    this.sequences.get(id)?.release();
    return this.sequences.delete(id);
  }

  /** KV cache use: blocks in use, free, and the pool's size in tokens. */
  kvUsage(): { usedBlocks: number; freeBlocks: number; capacityTokens: number } {
    const kv = this.lm.kv;
    return { usedBlocks: kv.usedBlocks, freeBlocks: kv.freeBlocks, capacityTokens: kv.capacityTokens };
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
    const kv = this.lm.kv.allocate(P + G);
    if (kv === undefined) throw new InferenceError("OVERLOADED", `the KV cache has no room for ${P + G} positions`);
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
          logits = this.lm.forward([{ tokens, start: from, blocks: kv.blocks, logits: from + tokens.length === P ? "last" : "none" }]);
        }
        const t1 = performance.now();
        for (let g = 0; g < G; g++) {
          const next = argmax(logits.subarray(0, vocab));
          logits = this.lm.forward([{ tokens: [next], start: P + g, blocks: kv.blocks }]);
        }
        times.prefillMs.push(t1 - t0);
        times.decodeMs.push(performance.now() - t1);
      }
    } finally {
      kv.free();
    }
    return times;
  }

  /**
   * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
   * context): the summed negative log-probability of ids[1..] and how many were scored.
   */
  score(ids: number[]): WindowScore {
    const { maxSequenceLength, vocabSize } = this.info_;
    if (!Array.isArray(ids) || ids.length > maxSequenceLength) {
      throw new LlmError("VALIDATION", `ids: must be an array of 2 .. ${maxSequenceLength} token ids`, { field: "ids" });
    }
    checkIds(ids, "ids", 2, vocabSize);
    // ids[0 .. n-2] go through the cache a chunk at a time; row r of a chunk's logits predicts the id after it
    const inputs = ids.length - 1;
    const kv = this.lm.kv.allocate(inputs);
    if (kv === undefined) throw new InferenceError("OVERLOADED", `the KV cache has no room for ${inputs} more positions`);
    const chunkSize = Math.min(SCORE_CHUNK, this.lm.maxLogitRows, this.lm.maxBatchTokens);
    let nll = 0;
    try {
      for (let from = 0; from < inputs; from += chunkSize) {
        const chunk = ids.slice(from, Math.min(from + chunkSize, inputs));
        const logits = this.lm.forward([{ tokens: chunk, start: from, blocks: kv.blocks, logits: "all" }]);
        for (let r = 0; r < chunk.length; r++) {
          const row = logits.subarray(r * vocabSize, (r + 1) * vocabSize);
          nll -= row[ids[from + r + 1]] - logSumExp(row);
        }
      }
    } finally {
      kv.free();
    }
    return { nll, count: inputs };
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

/** Starts the kernels a model runs on (the wasm backend with every core unless told otherwise). */
async function startKernels(backend: KernelBackend, threads: number | undefined): Promise<Kernels> {
  return createKernels(backend, { threads: threads ?? availableParallelism() });
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
