/** Loading a Llama the way LlmEngine does (through the registry, config.json read once), and running sequences on it. */
import { JsKernels, type Kernels, type ProgressCallback, type WeightFormat } from "@actorlm/tensor";
import { BlockManager, type KvSequence } from "../../packages/llm/src/generation/block-manager.js";
import type { CausalLM } from "../../packages/llm/src/models/causal-lm.js";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";

/** Options of {@link loadLlama}: the kernels (default: the JS reference) and what the registry passes on. */
export interface LoadOptions {
  kernels?: Kernels;
  format?: WeightFormat;
  onProgress?: ProgressCallback;
  kvCacheTokens?: number;
  maxBatchTokens?: number;
  maxLogitRows?: number;
}

/** The Llama in `dir`, loaded on `options.kernels` (the reference backend by default). */
export async function loadLlama(dir: string, options: LoadOptions = {}): Promise<Llama> {
  const { model } = await loadModel(dir, { kernels: new JsKernels(), ...options });
  return model as Llama;
}

/** One sequence on a model: its KV blocks, and forward passes that append to them. */
export interface Session {
  readonly kv: KvSequence;
  /** Runs `tokens` after the cached ones; logits of the last row, or of every row. */
  forward(tokens: readonly number[], logits?: "last" | "all"): Float32Array;
  /** Gives the blocks back. */
  free(): void;
}

const managers = new WeakMap<CausalLM, BlockManager>();

/** The one block manager of `model`'s KV storage in tests that run the model without a scheduler. */
export function blocksOf(model: CausalLM): BlockManager {
  let blocks = managers.get(model);
  if (blocks === undefined) managers.set(model, (blocks = new BlockManager(model.kv)));
  return blocks;
}

/** A session holding KV blocks for `capacity` positions; throws when the pool lacks them. */
export function session(model: CausalLM, capacity: number): Session {
  const kv = blocksOf(model).allocate(capacity);
  if (kv === undefined) throw new Error(`KV pool has no room for ${capacity} positions`);
  return {
    kv,
    forward(tokens, logits = "last") {
      const out = model.forward([{ tokens, start: kv.length, blocks: kv.blocks, logits }]);
      kv.length += tokens.length;
      return out;
    },
    free: () => kv.free(),
  };
}

/** log Σ exp(row) over one row of logits. */
export function logsumexp(row: Float32Array): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Index of the largest logit (first on ties). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Ids of the k largest logits, largest first. */
export function topK(row: Float32Array, k: number): number[] {
  return [...row.keys()].sort((a, b) => row[b] - row[a]).slice(0, k);
}

/**
 * Perplexity of `ids` teacher-forced through `model` the way LlmEngine scores a window: chunks of 64 positions,
 * every row's logits; row r of a chunk predicts the id after it.
 */
export function chunkedPerplexity(model: CausalLM, ids: readonly number[]): number {
  const V = model.config.vocabSize;
  const seq = session(model, ids.length);
  let nll = 0;
  try {
    for (let from = 0; from < ids.length - 1; from += 64) {
      const chunk = ids.slice(from, Math.min(from + 64, ids.length - 1));
      const logits = seq.forward(chunk, "all");
      chunk.forEach((_, r) => {
        const row = logits.subarray(r * V, (r + 1) * V);
        nll -= row[ids[from + r + 1]] - logsumexp(row);
      });
    }
  } finally {
    seq.free();
  }
  return Math.exp(nll / (ids.length - 1));
}
