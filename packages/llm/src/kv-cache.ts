/**
 * A model's KV cache as the model sees it: its layout (layers, heads, positions per block, blocks) and the storage
 * in backend memory. The model only reads and writes the blocks a batch names; which sequence holds which block,
 * and which blocks are shared or cached, is the block manager's (generation/block-manager.ts), owned by the scheduler.
 */
import type { KvCache, Kernels, KvCacheSpec } from "@actorlm/tensor";
import { LlmError } from "./errors.js";

/** Positions per block unless a model asks otherwise. */
export const DEFAULT_BLOCK_SIZE = 16;

/** The layout and backend storage of one model's paged KV cache. */
export class KvStorage {
  /** The storage in the kernels' memory (zeroed at allocation). */
  readonly cache: KvCache;

  /** Allocates storage for `layout` in `kernels`; VALIDATION naming the field of a malformed layout. */
  constructor(kernels: Kernels, readonly layout: KvCacheSpec) {
    for (const k of ["layers", "kvHeads", "headDim", "blockSize", "blocks"] as const) {
      if (!Number.isSafeInteger(layout[k]) || layout[k] <= 0) throw new LlmError("VALIDATION", `KV cache ${k} must be a positive integer, got ${layout[k]}`);
    }
    this.cache = kernels.kvCache(layout);
  }

  /** Positions per block. */
  get blockSize(): number {
    return this.layout.blockSize;
  }

  /** Blocks in the storage. */
  get blocks(): number {
    return this.layout.blocks;
  }

  /** Positions the whole cache holds (its token budget). */
  get capacityTokens(): number {
    return this.layout.blocks * this.layout.blockSize;
  }
}
