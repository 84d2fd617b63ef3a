// What generation needs from a model architecture, and what loading one takes.
import { totalmem } from "node:os";
import type { BatchSequence, Kernels, ProgressCallback, TensorSource, WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import type { KvStorage } from "../kv-cache.js";
import type { FormatUse } from "./weights.js";

/** The facts about a model that generation and scheduling use. */
export interface CausalLMConfig {
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
}

/**
 * A causal language model as the generation code sees it. It owns its weights, activation buffers and KV
 * storage in its kernels' memory; the caller (the scheduler's block manager) owns which sequence holds which block.
 */
export interface CausalLM {
  readonly config: CausalLMConfig;
  /** The kernels the model runs on. */
  readonly kernels: Kernels;
  /** The layout and storage of the model's paged KV cache (blocks are handed out by the scheduler's block manager). */
  readonly kv: KvStorage;
  /** Most rows (tokens, all sequences together) one `forward` takes. */
  readonly maxBatchTokens: number;
  /** Most logit rows one `forward` returns. */
  readonly maxLogitRows: number;
  /** Bytes of weights one decode step reads (every matrix once; of the embedding table, only when it is the head). */
  readonly weightBytesPerToken: number;
  /** Weight values a prompt row multiplies in the matrix products (the embedding lookup and the head, run only on rows that sample, left out). */
  readonly productValuesPerToken: number;
  /** How the weights are stored, in words (which are ternary, and whether that was lossy); absent: as the format says. */
  readonly storage?: string;
  /** The weight matrices by storage format: how many, their values, and the kernel memory they take. */
  readonly formats?: Readonly<Partial<Record<WeightFormat, Readonly<FormatUse>>>>;
  /**
   * Runs one batch: each sequence's new tokens at positions start .. (its block table must cover them), writing
   * their keys and values to the cache. Returns the logits the sequences asked for, [rows, vocab], in order.
   */
  forward(sequences: readonly BatchSequence[]): Float32Array;
  /** Frees the model's backend memory and threads. */
  dispose(): Promise<void>;
}

/** Options for loading a model's weights. */
export interface ModelLoadOptions {
  /** The kernels the model runs on: chosen by the caller (the model never picks one). */
  readonly kernels: Kernels;
  /** Storage format of the weight matrices (norms and biases stay float32). Default float32. */
  readonly format?: WeightFormat;
  /** KV pool size in tokens (rounded up to whole blocks). Default: see {@link defaultKvTokens}. */
  readonly kvCacheTokens?: number;
  /** Most rows one forward takes (activation buffers are sized for it). Default 512. */
  readonly maxBatchTokens?: number;
  /** Most logit rows one forward returns. Default 64. */
  readonly maxLogitRows?: number;
  /** Progress: bytes read (stage "read"), then tensors converted (stage "convert"). */
  readonly onProgress?: ProgressCallback;
  /** Refuse (MODEL_LOAD naming the tensor) a weight holding NaN or ±inf, checked as it is read. Default true. */
  readonly checkWeights?: boolean;
  /** Read the weights from this source (the caller's to close) instead of the directory's safetensors: a GGUF file. */
  readonly source?: TensorSource;
  /** A matrix's storage format where it should differ from `format` (a GGUF file's matrices each in the format nearest their type). */
  readonly formatOf?: (name: string) => WeightFormat | undefined;
}

/** Default rows per forward. */
export const DEFAULT_MAX_BATCH_TOKENS = 512;
/** Default logit rows per forward. */
export const DEFAULT_MAX_LOGIT_ROWS = 64;

/**
 * The default KV budget in tokens: room for 4 sequences of the model's full length (at least 4096 tokens),
 * but never more than 256 MiB of cache or 1/16 of the machine's memory.
 */
export function defaultKvTokens(bytesPerToken: number, maxPositions: number): number {
  const wanted = Math.max(4 * maxPositions, 4096);
  const budget = Math.min(256 * 2 ** 20, totalmem() / 16);
  return Math.max(1, Math.min(wanted, Math.floor(budget / bytesPerToken)));
}

/**
 * Refuses (MODEL_LOAD) a model whose weights, KV cache and buffers (`bytes` in all) cannot fit the kernels' memory,
 * before anything is read: wasm32 holds at most 4 GiB.
 */
export function checkMemory(kernels: Kernels, bytes: number, format: WeightFormat, weightBytes: number): void {
  const free = kernels.memoryLimit - kernels.memoryBytes();
  if (bytes <= free) return;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  throw new LlmError("MODEL_LOAD",
    `the model needs ${gib(bytes)} of ${kernels.name} memory (weights in ${format}: ${gib(weightBytes)}), more than the ${gib(free)} this backend can hold` +
    (kernels.name === "wasm" ? " (wasm32 memory is limited to 4 GiB): choose a smaller dtype, a smaller kvCacheTokens, or backend js" : ""));
}
