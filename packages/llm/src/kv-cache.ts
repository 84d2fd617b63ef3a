/**
 * The paged KV cache of one model: a pool of fixed-size blocks in backend memory (vLLM's idea) and the
 * bookkeeping of which sequence holds which blocks. A sequence's block table lists its blocks in position
 * order; it grows a block at a time and gives every block back when it is freed.
 */
import type { KvCache, Kernels, KvCacheSpec } from "@actorlm/tensor";
import { LlmError } from "./errors.js";

/** Positions per block unless a model asks otherwise. */
export const DEFAULT_BLOCK_SIZE = 16;

/** One sequence's cache entries: its blocks and how many positions they hold so far. */
export class KvSequence {
  /** Block ids in position order. */
  readonly blocks: number[] = [];
  /** Positions cached so far. */
  length = 0;
  #freed = false;

  /** Made by {@link KvPool.allocate}. */
  constructor(private readonly pool: KvPool) {}

  /** Positions the sequence's blocks can hold. */
  get capacity(): number {
    return this.blocks.length * this.pool.blockSize;
  }

  /** True once the blocks went back to the pool. */
  get freed(): boolean {
    return this.#freed;
  }

  /** Makes room for `positions` positions in total; false (nothing taken) when the pool lacks the blocks. */
  reserve(positions: number): boolean {
    if (this.#freed) throw new LlmError("VALIDATION", "KV sequence was already freed");
    return this.pool.grow(this, positions);
  }

  /** Gives the blocks back to the pool (idempotent). */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.pool.release(this);
  }
}

/** A model's KV block pool: the backend storage and a free list. */
export class KvPool {
  readonly cache: KvCache;
  readonly #free: number[];

  /** Allocates the pool's storage in `kernels` (zeroed). */
  constructor(kernels: Kernels, readonly spec: KvCacheSpec) {
    for (const k of ["layers", "kvHeads", "headDim", "blockSize", "blocks"] as const) {
      if (!Number.isSafeInteger(spec[k]) || spec[k] <= 0) throw new LlmError("VALIDATION", `KV cache ${k} must be a positive integer, got ${spec[k]}`);
    }
    this.cache = kernels.kvCache(spec);
    this.#free = Array.from({ length: spec.blocks }, (_, i) => spec.blocks - 1 - i); // pop() hands out block 0 first
  }

  /** Positions per block. */
  get blockSize(): number {
    return this.spec.blockSize;
  }

  /** Positions the whole pool holds (its token budget). */
  get capacityTokens(): number {
    return this.spec.blocks * this.spec.blockSize;
  }

  /** Blocks not held by any sequence. */
  get freeBlocks(): number {
    return this.#free.length;
  }

  /** Blocks held by sequences. */
  get usedBlocks(): number {
    return this.spec.blocks - this.#free.length;
  }

  /** Blocks needed for `positions` positions. */
  blocksFor(positions: number): number {
    return Math.ceil(positions / this.spec.blockSize);
  }

  /** A new sequence holding room for `positions` positions, or undefined when the pool lacks the blocks. */
  allocate(positions: number): KvSequence | undefined {
    const seq = new KvSequence(this);
    return this.grow(seq, positions) ? seq : undefined;
  }

  /** Extends `seq` to hold `positions` positions; false (nothing taken) when the pool lacks the blocks. @internal */
  grow(seq: KvSequence, positions: number): boolean {
    const need = this.blocksFor(positions) - seq.blocks.length;
    if (need <= 0) return true;
    if (need > this.#free.length) return false;
    for (let i = 0; i < need; i++) seq.blocks.push(this.#free.pop()!);
    return true;
  }

  /** Takes back every block of `seq`. @internal */
  release(seq: KvSequence): void {
    for (let i = seq.blocks.length - 1; i >= 0; i--) this.#free.push(seq.blocks[i]);
    seq.blocks.length = 0;
    seq.length = 0;
  }
}
