// The one owner of a model's KV blocks. The scheduler holds it; every block a sequence, a scoring window or a
// benchmark uses is allocated, shared, freed and evicted here (the model only exposes the storage and its layout).
//
// Automatic prefix caching (vLLM's idea): a full block is identified by a hash chained over (the previous block's
// hash, the block's token ids), so one hash names a whole prefix. Once a sequence has written a full block it is
// registered under that hash; another sequence whose tokens start with the same prefix attaches the block instead of
// computing it, and each block counts its references. A block nobody references any more stays cached, and is
// evicted least recently used when the pool needs room (truly free blocks go first). Only full blocks are shared: the
// last, partial block of a sequence is its own while it is being written. A sequence attaches at most the blocks
// before its last token, so at least that token is computed and its logits exist.
import { createHash } from "node:crypto";
import { LlmError } from "../errors.js";

/** What the manager needs of the storage: positions per block and how many blocks there are. */
export interface BlockLayout {
  readonly blockSize: number;
  readonly blocks: number;
}

/** Settings of a {@link BlockManager}. */
export interface BlockManagerOptions {
  /** Register full blocks and share them between sequences with the same prefix. Default true. */
  readonly prefixCaching?: boolean;
}

/** The cached prefix a sequence could attach now (see {@link BlockManager.lookup}). */
export interface PrefixHit {
  /** Cached blocks, in position order. */
  readonly blocks: number;
  /** Positions they hold. */
  readonly positions: number;
  /** Of them, blocks nobody references now: free for others until attached. */
  readonly unreferenced: number;
}

/** Block counts and prefix-cache counters. */
export interface BlockStats {
  /** Blocks referenced by a sequence. */
  readonly usedBlocks: number;
  /** Blocks a sequence can get now: never used or freed, plus cached blocks nobody references (evictable). */
  readonly freeBlocks: number;
  /** Cached blocks nobody references (kept for later hits, evicted least recently used). */
  readonly cachedBlocks: number;
  /** Cached blocks evicted to make room so far. */
  readonly evictions: number;
}

/** One sequence's block table: its blocks in position order and how many positions they hold so far. */
export class KvSequence {
  /** Block ids in position order. */
  readonly blocks: number[] = [];
  /** Positions written so far. */
  length = 0;
  /**
   * Chain hashes of the sequence's full blocks of tokens, computed as they are needed. They name tokens, not blocks,
   * so they stay valid when the sequence gives its blocks back (its tokens only ever grow).
   */
  readonly hashes: string[] = [];
  /** Full blocks offered to the cache so far (registered, or already cached when attached). */
  committed = 0;
  #freed = false;

  /** Made by {@link BlockManager.sequence} or {@link BlockManager.allocate}; `manager` owns its blocks. */
  constructor(readonly manager: BlockManager) {}

  /** Positions the sequence's blocks can hold. */
  get capacity(): number {
    return this.blocks.length * this.manager.blockSize;
  }

  /** True once the blocks went back for good. */
  get freed(): boolean {
    return this.#freed;
  }

  /** Makes room for `positions` positions in total; false (nothing taken) when the pool lacks the blocks. */
  reserve(positions: number): boolean {
    if (this.#freed) throw new LlmError("VALIDATION", "KV sequence was already freed");
    return this.manager.grow(this, positions);
  }

  /** Gives the blocks back (idempotent); the sequence cannot grow again. */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.manager.reset(this);
  }
}

/** The chain hash of the root (no previous block). */
const ROOT = "";

/** Hands out a model's KV blocks, shares full blocks by prefix, and evicts unreferenced cached ones. */
export class BlockManager {
  readonly blockSize: number;
  readonly totalBlocks: number;
  readonly prefixCaching: boolean;
  /** References per block. */
  readonly #refs: Int32Array;
  /** The hash a cached block is registered under (undefined: not cached). */
  readonly #hashOf: (string | undefined)[];
  /** Cached blocks by hash. */
  readonly #byHash = new Map<string, number>();
  /** Blocks never used or freed uncached; pop() hands out block 0 first. */
  readonly #free: number[];
  /** Cached blocks nobody references, least recently used first (a Set keeps insertion order). */
  readonly #lru = new Set<number>();
  #evictions = 0;

  /** A manager of `layout.blocks` blocks, all free. */
  constructor(layout: BlockLayout, options: BlockManagerOptions = {}) {
    for (const k of ["blockSize", "blocks"] as const) {
      if (!Number.isSafeInteger(layout[k]) || layout[k] <= 0) throw new LlmError("VALIDATION", `KV cache ${k} must be a positive integer, got ${layout[k]}`);
    }
    this.blockSize = layout.blockSize;
    this.totalBlocks = layout.blocks;
    this.prefixCaching = options.prefixCaching !== false;
    this.#refs = new Int32Array(layout.blocks);
    this.#hashOf = new Array<string | undefined>(layout.blocks).fill(undefined);
    this.#free = Array.from({ length: layout.blocks }, (_, i) => layout.blocks - 1 - i);
  }

  /** Positions the whole pool holds (its token budget). */
  get capacityTokens(): number {
    return this.totalBlocks * this.blockSize;
  }

  /** Blocks a sequence can get now: free ones plus cached ones nobody references (evicted on demand). */
  get freeBlocks(): number {
    return this.#free.length + this.#lru.size;
  }

  /** Blocks referenced by at least one sequence. */
  get usedBlocks(): number {
    return this.totalBlocks - this.freeBlocks;
  }

  /** Cached blocks nobody references. */
  get cachedBlocks(): number {
    return this.#lru.size;
  }

  /** Counts for metrics and tests. */
  stats(): BlockStats {
    return { usedBlocks: this.usedBlocks, freeBlocks: this.freeBlocks, cachedBlocks: this.cachedBlocks, evictions: this.#evictions };
  }

  /** References block `block` has now (for tests and checks). */
  references(block: number): number {
    return this.#refs[block];
  }

  /** Blocks needed for `positions` positions. */
  blocksFor(positions: number): number {
    return Math.ceil(positions / this.blockSize);
  }

  /** A new, empty block table. */
  sequence(): KvSequence {
    return new KvSequence(this);
  }

  /** A new table holding private blocks for `positions` positions, or undefined when the pool lacks them. */
  allocate(positions: number): KvSequence | undefined {
    const seq = new KvSequence(this);
    return this.grow(seq, positions) ? seq : undefined;
  }

  /**
   * Extends `seq` with private blocks to hold `positions` positions; false (nothing taken) when the pool lacks them.
   * Free blocks go first, then cached blocks nobody references, least recently used first (evicted).
   */
  grow(seq: KvSequence, positions: number): boolean {
    const need = this.blocksFor(positions) - seq.blocks.length;
    if (need <= 0) return true;
    if (need > this.freeBlocks) return false;
    for (let i = 0; i < need; i++) {
      const block = this.#free.pop() ?? this.#evict();
      this.#refs[block] = 1;
      seq.blocks.push(block);
    }
    return true;
  }

  /** The cached prefix `seq` (holding no blocks) could attach for `tokens`, leaving at least the last token to compute. */
  lookup(seq: KvSequence, tokens: readonly number[]): PrefixHit {
    if (!this.prefixCaching || seq.blocks.length > 0) return { blocks: 0, positions: 0, unreferenced: 0 };
    const most = Math.floor((tokens.length - 1) / this.blockSize);
    let blocks = 0, unreferenced = 0;
    for (; blocks < most; blocks++) {
      const block = this.#byHash.get(this.#hash(seq, tokens, blocks));
      if (block === undefined) break;
      if (this.#refs[block] === 0) unreferenced++;
    }
    return { blocks, positions: blocks * this.blockSize, unreferenced };
  }

  /**
   * Hashes of the full blocks of `tokens` that `seq` (running) has not written yet: blocks it will register once its
   * prefill writes them. Empty with prefix caching off.
   */
  upcoming(seq: KvSequence, tokens: readonly number[]): string[] {
    if (!this.prefixCaching) return [];
    const out: string[] = [];
    for (let i = seq.committed, full = Math.floor(tokens.length / this.blockSize); i < full; i++) out.push(this.#hash(seq, tokens, i));
    return out;
  }

  /**
   * The hash of the first block of `tokens` after `hit` cached blocks that `seq` would compute itself, when it is a
   * full block before its last token (one another sequence could register for it); undefined otherwise.
   */
  nextHash(seq: KvSequence, tokens: readonly number[], hit: number): string | undefined {
    if (!this.prefixCaching || hit >= Math.floor((tokens.length - 1) / this.blockSize)) return undefined;
    return this.#hash(seq, tokens, hit);
  }

  /** Attaches the cached prefix of `tokens` to `seq` (holding no blocks), a reference each; returns the positions it holds. */
  attach(seq: KvSequence, tokens: readonly number[]): number {
    const hit = this.lookup(seq, tokens);
    for (let i = 0; i < hit.blocks; i++) {
      const block = this.#byHash.get(seq.hashes[i])!;
      if (this.#refs[block]++ === 0) this.#lru.delete(block);
      seq.blocks.push(block);
    }
    seq.length = hit.positions;
    seq.committed = hit.blocks;
    return hit.positions;
  }

  /**
   * Registers the full blocks `seq` has written since the last call (its first `seq.length` of `tokens`), so later
   * sequences with the same prefix can attach them. A block whose prefix is cached already stays private.
   */
  commit(seq: KvSequence, tokens: readonly number[]): void {
    if (!this.prefixCaching) return;
    const full = Math.floor(seq.length / this.blockSize);
    for (let i = seq.committed; i < full; i++) {
      const hash = this.#hash(seq, tokens, i);
      const block = seq.blocks[i];
      if (this.#hashOf[block] === undefined && !this.#byHash.has(hash)) {
        this.#hashOf[block] = hash;
        this.#byHash.set(hash, block);
      }
    }
    seq.committed = Math.max(seq.committed, full);
  }

  /** Blocks only `seq` references: what giving its blocks back frees. */
  ownBlocks(seq: KvSequence): number {
    let own = 0;
    for (const block of seq.blocks) if (this.#refs[block] === 1) own++;
    return own;
  }

  /**
   * Gives back every block of `seq` (its table is empty after, its hashes kept): cached blocks nobody references now
   * join the eviction order, last block first (a later block is worth less without its prefix), the rest are free.
   */
  reset(seq: KvSequence): void {
    for (let i = seq.blocks.length - 1; i >= 0; i--) {
      const block = seq.blocks[i];
      if (--this.#refs[block] > 0) continue;
      if (this.#hashOf[block] !== undefined) this.#lru.add(block);
      else this.#free.push(block);
    }
    seq.blocks.length = 0;
    seq.length = 0;
    seq.committed = 0;
  }

  /**
   * Checks the books: every block is free, cached and unreferenced, or referenced, exactly once; the references match
   * `live` (every table that holds blocks). Throws VALIDATION naming the first mismatch (a broken invariant; for tests).
   */
  check(live: readonly KvSequence[] = []): void {
    const expected = new Int32Array(this.totalBlocks);
    for (const seq of live) for (const block of seq.blocks) expected[block]++;
    const seen = new Int32Array(this.totalBlocks);
    for (const block of this.#free) seen[block]++;
    for (const block of this.#lru) seen[block]++;
    for (let b = 0; b < this.totalBlocks; b++) {
      if (this.#refs[b] !== expected[b]) throw new LlmError("VALIDATION", `block ${b} has ${this.#refs[b]} references, ${expected[b]} expected`);
      if (this.#refs[b] > 0 ? seen[b] !== 0 : seen[b] !== 1) throw new LlmError("VALIDATION", `block ${b} (${this.#refs[b]} references) is listed ${seen[b]} times as free or cached`);
      if (this.#lru.has(b) && this.#hashOf[b] === undefined) throw new LlmError("VALIDATION", `block ${b} waits for eviction but is not cached`);
      if (this.#hashOf[b] !== undefined && this.#byHash.get(this.#hashOf[b]!) !== b) throw new LlmError("VALIDATION", `block ${b} is not found under its hash`);
    }
  }

  /** Evicts the least recently used cached block nobody references and returns it. */
  #evict(): number {
    const block = this.#lru.values().next().value;
    if (block === undefined) throw new LlmError("VALIDATION", "the KV pool has no block to evict");
    this.#lru.delete(block);
    this.#byHash.delete(this.#hashOf[block]!);
    this.#hashOf[block] = undefined;
    this.#evictions++;
    return block;
  }

  /** The chain hash of `seq`'s full block `index` of `tokens`: sha-256 over (previous block's hash, its token ids). */
  #hash(seq: KvSequence, tokens: readonly number[], index: number): string {
    for (let i = seq.hashes.length; i <= index; i++) {
      const ids = Int32Array.from(tokens.slice(i * this.blockSize, (i + 1) * this.blockSize));
      const hash = createHash("sha256").update(i === 0 ? ROOT : seq.hashes[i - 1]).update(new Uint8Array(ids.buffer)).digest("base64");
      seq.hashes.push(hash);
    }
    return seq.hashes[index];
  }
}
