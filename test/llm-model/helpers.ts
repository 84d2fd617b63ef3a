/** Loading a Llama the way LlamaModel does (through the registry, config.json read once), and running sequences on it. */
import { JsKernels, type Kernels, type ProgressCallback, type WeightFormat } from "@actorlm/tensor";
import type { KvSequence } from "../../packages/llm/src/kv-cache.js";
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

/** A session holding KV blocks for `capacity` positions; throws when the pool lacks them. */
export function session(model: CausalLM, capacity: number): Session {
  const kv = model.kv.allocate(capacity);
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
