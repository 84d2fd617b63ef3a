// What the engine reports about itself: the facts fixed at load (`ModelInfo`) and its counters now (`EngineStats`).
import type { JsRuntime } from "@actorlm/runtime";
import type { RequestLimits } from "../generation/request.js";
import type { SchedulerStats } from "../generation/scheduler.js";

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

/** What a request is validated against before it is tokenized (`validateRequest`): the limits in a model's info. */
export function requestLimits(info: ModelInfo): RequestLimits {
  return { maxSequenceLength: info.maxSequenceLength, maxStopSequences: info.maxStopSequences, maxPromptBytes: info.maxPromptBytes };
}
