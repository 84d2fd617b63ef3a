// What generation needs from a model architecture, and what loading one takes.
import type { BatchSequence, Kernels, ProgressCallback, WeightFormat } from "@actorlm/tensor";
import type { KvPool } from "../kv-cache.js";

/** The facts about a model that generation and scheduling use. */
export interface CausalLMConfig {
  readonly vocabSize: number;
  readonly maxPositionEmbeddings: number;
}

/**
 * A causal language model as the generation code sees it. It owns its weights, activation buffers and KV
 * pool in its kernels' memory; the caller owns which sequence holds which KV blocks.
 */
export interface CausalLM {
  readonly config: CausalLMConfig;
  /** The kernels the model runs on. */
  readonly kernels: Kernels;
  /** The model's paged KV cache. */
  readonly kv: KvPool;
  /** Most rows (tokens, all sequences together) one `forward` takes. */
  readonly maxBatchTokens: number;
  /** Most logit rows one `forward` returns. */
  readonly maxLogitRows: number;
  /** Bytes of weights one decode step reads (every matrix once; of the embedding table, only when it is the head). */
  readonly weightBytesPerToken: number;
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
}

/** Default rows per forward. */
export const DEFAULT_MAX_BATCH_TOKENS = 512;
/** Default logit rows per forward. */
export const DEFAULT_MAX_LOGIT_ROWS = 64;

/**
 * The default KV budget in tokens: room for 8 sequences of the model's full length (at least 8192 tokens),
 * but never more than 1 GiB of cache.
 */
export function defaultKvTokens(bytesPerToken: number, maxPositions: number): number {
  const wanted = Math.max(8 * maxPositions, 8192);
  return Math.max(1, Math.min(wanted, Math.floor(2 ** 30 / bytesPerToken)));
}
