// The model actor: what the runtime hosts in its worker. It owns the weights, the tokenizer and one
// Sequence (KV slot) per request, and exposes generation as named operations the handlers call.
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { BackendConfig, InferenceError, type BackendConfigInit, type KernelBackend, type LoadContext } from "@actorlm/runtime";
import { createKernels, isWeightFormat, type Kernels, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "./errors.js";
import { Sequence, type StepOutput } from "./generation/sequence.js";
import { fitMaxTokens, validateRequest, type GenerateRequest } from "./generation/request.js";
import type { CausalLM } from "./models/causal-lm.js";
import { loadModel } from "./models/registry.js";
import { Tokenizer } from "./tokenizer.js";

/** Positions `score` runs through the model per forward pass: bounds its [rows, vocab] logits scratch. */
const SCORE_CHUNK = 64;

/** How to load a model: the backend config, plus the worker's own limits. */
export interface LlamaModelArgs extends BackendConfigInit {
  /** Most sequences (KV slots) alive at once; a request beyond it is refused with OVERLOADED. Default 64. */
  maxSequences?: number;
  /** Most stop strings one request may give. Default 4. */
  maxStopSequences?: number;
  /** KV cache pool size in tokens. Default: room for 4 full-length sequences, at most 256 MiB. */
  kvCacheTokens?: number;
  /** Most tokens one forward pass takes (longer prompts are prefilled in chunks). Default 512. */
  maxBatchTokens?: number;
}

/** Static facts about the loaded model. */
export interface ModelInfo {
  model: string;
  architecture: string;
  /** Kernels the model runs on, the threads they use, and which SIMD build (wasm). */
  backend: string;
  threads: number;
  simd: string;
  /** Storage format of the weight matrices. */
  dtype: string;
  /** KV cache pool size in tokens. */
  kvCacheTokens: number;
  /** Bytes of kernel memory in use (weights, buffers, KV cache). */
  memoryBytes: number;
  /** Bytes of weights one decode step reads. */
  weightBytesPerToken: number;
  vocabSize: number;
  maxSequenceLength: number;
  bosId: number | null;
  eosIds: number[];
  maxStopSequences: number;
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
  promptIds: number[];
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

  /** Load config, weights and tokenizer from `args.model` (a directory), reporting progress to the host. */
  static async load(args: LlamaModelArgs | string, ctx?: LoadContext): Promise<LlamaModel> {
    const init = typeof args === "string" ? { model: args } : args;
    const config = new BackendConfig(init).validate();
    const format = weightFormatOf(config.dtype);
    const kernels = await startKernels(kernelBackendOf(config.device, config.backend), config.threads);
    const onProgress = ctx ? (p: { stage: string; done: number; total: number; unit: string }) => ctx.progress(p) : undefined;
    let loaded: Awaited<ReturnType<typeof loadModel>>;
    let tokenizer: Tokenizer;
    try {
      loaded = await loadModel(config.model, {
        kernels, format, onProgress, kvCacheTokens: init.kvCacheTokens, maxBatchTokens: init.maxBatchTokens,
      });
      tokenizer = await Tokenizer.fromDir(config.model, { modelConfig: loaded.rawConfig });
      checkVocabulary(tokenizer, loaded.model.config.vocabSize, config.model);
    } catch (error) {
      await kernels.dispose();
      throw error;
    }
    const { architecture: arch, model: lm } = loaded;

    const modelMax = lm.config.maxPositionEmbeddings;
    const maxSequenceLength = init.maxSequenceLength ?? modelMax;
    if (maxSequenceLength > modelMax) {
      throw new InferenceError("VALIDATION", `maxSequenceLength ${maxSequenceLength} exceeds the model's max_position_embeddings ${modelMax}`);
    }
    const info: ModelInfo = {
      model: config.model,
      architecture: arch.name,
      backend: kernels.name,
      threads: kernels.threads,
      simd: kernels.simd,
      dtype: format,
      kvCacheTokens: lm.kv.capacityTokens,
      memoryBytes: kernels.memoryBytes(),
      weightBytesPerToken: lm.weightBytesPerToken,
      vocabSize: lm.config.vocabSize,
      maxSequenceLength,
      bosId: tokenizer.bosId,
      eosIds: [...tokenizer.eosIds],
      maxStopSequences: positive(init.maxStopSequences ?? 4, "maxStopSequences"),
    };
    return new LlamaModel(lm, tokenizer, info, positive(init.maxSequences ?? 64, "maxSequences"));
  }

  /** Static facts about the model (vocabulary, limits, special ids). */
  info(): ModelInfo {
    return this.info_;
  }

  /** Number of live sequences (KV slots in use). */
  activeSequences(): number {
    return this.sequences.size;
  }

  /** Token ids of `text` (bos prepended unless `addSpecialTokens` is false). */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { addSpecialTokens });
  }

  /** Text of `ids` (special tokens skipped). */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** Validate a request, tokenize its prompt, give it a KV slot and prefill it. VALIDATION / OVERLOADED on refusal. */
  start(request: GenerateRequest): SequenceStart {
    const { maxSequenceLength, maxStopSequences } = this.info_;
    const normalized = validateRequest(request, { maxSequenceLength, maxStopSequences });
    const promptIds = this.tokenizer.encode(normalized.prompt);
    const maxTokens = fitMaxTokens(promptIds.length, normalized.maxTokens, { maxSequenceLength, maxStopSequences });
    if (this.sequences.size >= this.maxSequences) {
      throw new InferenceError("OVERLOADED", `all ${this.maxSequences} sequence slots are in use`);
    }
    const sequence = new Sequence(this.lm, this.tokenizer, normalized, promptIds, maxTokens);
    const id = this.nextId++;
    this.sequences.set(id, sequence);
    return { id, promptIds, seed: sequence.seed };
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
    const sequence = this.sequences.get(id);
    sequence?.release();
    return this.sequences.delete(id);
  }

  /**
   * Times the engine alone (no sampling, detokenizing or messaging): `runs` times, a forward over `promptTokens`
   * seeded random ids, then `genTokens` greedy one-token forwards (end-of-sequence ignored).
   */
  benchmark(options: { promptTokens: number; genTokens: number; runs: number; seed?: number }): BenchmarkTimes {
    const P = positive(options.promptTokens, "promptTokens"), G = positive(options.genTokens, "genTokens");
    const runs = positive(options.runs, "runs");
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

  /** KV cache use: blocks in use, free, and the pool's size in tokens. */
  kvUsage(): { usedBlocks: number; freeBlocks: number; capacityTokens: number } {
    const kv = this.lm.kv;
    return { usedBlocks: kv.usedBlocks, freeBlocks: kv.freeBlocks, capacityTokens: kv.capacityTokens };
  }

  /**
   * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
   * context): the summed negative log-probability of ids[1..] and how many were scored.
   */
  score(ids: number[]): WindowScore {
    const { maxSequenceLength, vocabSize } = this.info_;
    if (!Array.isArray(ids) || ids.length < 2 || ids.length > maxSequenceLength) {
      throw new InferenceError("VALIDATION", `ids: must be an array of 2 .. ${maxSequenceLength} token ids`);
    }
    const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new LlmError("VALIDATION", `ids: id ${ids[bad]} at ${bad} is outside the vocabulary 0 .. ${vocabSize - 1}`, { field: "ids" });
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
        for (let r = 0; r < chunk.length; r++) nll -= logProb(logits.subarray(r * vocabSize, (r + 1) * vocabSize), ids[from + r + 1]);
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

/** Index of the largest value (the first on ties). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** log softmax(row)[id], computed stably in float64. */
function logProb(row: Float32Array, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[id] - max - Math.log(sum);
}

/** The storage format a config dtype asks for; VALIDATION for one this build cannot store yet. */
function weightFormatOf(dtype: string): WeightFormat {
  if (!isWeightFormat(dtype)) throw new InferenceError("VALIDATION", `dtype ${dtype}: not supported for this model (supported: float32, float16, bfloat16, int8)`);
  return dtype;
}

/** The kernels a device runs on: an explicit `backend`, else the device's default (cpu → wasm). */
function kernelBackendOf(device: string, backend: KernelBackend | undefined): KernelBackend {
  if (device !== "cpu") throw new InferenceError("VALIDATION", `device ${device}: no GPU backend in this build (use "cpu")`);
  if (backend === "gpu") throw new InferenceError("VALIDATION", `backend gpu needs device "gpu"`);
  return backend ?? "wasm";
}

/** Starts the kernels; a backend this build lacks is VALIDATION naming it. */
async function startKernels(backend: KernelBackend, threads: number | undefined): Promise<Kernels> {
  try {
    return await createKernels(backend, { threads: threads ?? availableParallelism() });
  } catch (error) {
    throw new InferenceError("VALIDATION", `backend: ${(error as Error).message}`, { cause: error });
  }
}

function positive(n: number, field: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InferenceError("VALIDATION", `${field}: must be an integer ≥ 1, got ${n}`);
  return n;
}
