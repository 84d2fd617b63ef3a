// What generation needs from a model architecture: a KV cache per sequence and a forward pass; and what loading one takes.
import type { Backend, ProgressCallback } from "@actorlm/tensor";
import type { KvCache } from "../kv-cache.js";

/** A causal language model as the generation code sees it (Llama implements it; later architectures too). */
export interface CausalLM {
  readonly config: { readonly vocabSize: number; readonly maxPositionEmbeddings: number };
  /** A fresh KV cache holding up to `capacity` positions. */
  newCache(capacity?: number): KvCache;
  /**
   * Run `tokens` after the cache's contents; returns the last position's logits ([vocab]) or, with
   * `logits: "all"`, every position's ([T, vocab]) in a buffer the next call overwrites.
   */
  forward(tokens: ArrayLike<number>, cache: KvCache, options?: { logits?: "last" | "all" }): Float32Array;
}

/** Options for loading a model's weights. */
export interface ModelLoadOptions {
  /** The kernels the model runs on: chosen by the caller (the model never picks one). */
  readonly backend: Backend;
  /** Progress: bytes read (stage "read"), then tensors converted (stage "convert"). */
  readonly onProgress?: ProgressCallback;
}
