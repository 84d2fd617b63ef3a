/**
 * The command list: ops recorded as 32-word records in wasm memory, each cut into chunks that threads claim,
 * with a barrier flag wherever an op must see what earlier ops wrote (or must not overwrite what they read).
 * Dependencies are found from the byte ranges each op reads and writes, so independent ops (the q, k and v
 * projections of one input) run back to back. Each op has two counters beside the list: chunks claimed
 * (tagged with the list's generation) and chunks done.
 */
import type { Arena } from "./arena.js";

/** Opcodes, as `assembly/index.ts` numbers them. */
export const OP = {
  matmulF32: 1, matmulF16: 2, matmulBF16: 3, matmulI8: 4, quantize: 5, rmsnorm: 6, layernorm: 7, rope: 8,
  kvWrite: 9, attention: 10, glu: 11, activation: 12, add: 13, scale: 14, softcap: 15, embed: 16, gather: 17, sum: 18,
  prepareHalves: 19, prepareTernary: 20, matmulTernary: 21, embedTernary: 22, addPositions: 30, matmulQ4: 31,
} as const;

const WORDS = 32;
const BARRIER = 1;

/** A byte range [start, end) of wasm memory. */
export type Range = readonly [start: number, end: number];

/** A growable list of byte ranges in flat arrays (no allocation per range once grown). */
class Ranges {
  starts = new Float64Array(64);
  ends = new Float64Array(64);
  length = 0;

  add(start: number, end: number): void {
    if (this.length === this.starts.length) {
      const s = new Float64Array(2 * this.length), e = new Float64Array(2 * this.length);
      s.set(this.starts);
      e.set(this.ends);
      this.starts = s;
      this.ends = e;
    }
    this.starts[this.length] = start;
    this.ends[this.length] = end;
    this.length++;
  }

  /** True when any of these ranges overlaps any of `other`. */
  overlaps(other: Ranges): boolean {
    for (let i = 0; i < this.length; i++) {
      for (let j = 0; j < other.length; j++) if (this.starts[i] < other.ends[j] && other.starts[j] < this.ends[i]) return true;
    }
    return false;
  }

  /** Appends every range of `other`. */
  addAll(other: Ranges): void {
    for (let i = 0; i < other.length; i++) this.add(other.starts[i], other.ends[i]);
  }
}

/** How an op is cut: `chunks` chunks of `size` units each (the last may be shorter). */
export interface Chunking {
  readonly chunks: number;
  readonly size: number;
}

/**
 * Cuts `total` units into about four chunks per thread, each a multiple of `align` and at least `min` units
 * (one chunk when a single thread runs, or when there is too little work to share).
 */
export function chunking(total: number, threads: number, align: number, min: number): Chunking {
  if (total <= 0) return { chunks: 0, size: 1 };
  if (threads === 1 || total <= min) return { chunks: 1, size: total };
  const size = Math.ceil(Math.max(min, Math.ceil(total / (4 * threads))) / align) * align;
  return { chunks: Math.ceil(total / size), size };
}

/**
 * Records ops into a growable region of the arena, one at a time and without allocating: `begin`, the op's
 * arguments (`int`, `float`), the ranges it reads and writes, then `end`, which decides whether it needs a barrier.
 */
export class Recorder {
  #list = 0;
  #counters = 0;
  #capacity = 0;
  #count = 0;
  #at = 0;
  #arg = 0;
  readonly #segmentReads = new Ranges();
  readonly #segmentWrites = new Ranges();
  readonly #reads = new Ranges();
  readonly #writes = new Ranges();

  constructor(private readonly arena: Arena) {}

  /** Ops recorded since the last `reset`. */
  get count(): number {
    return this.#count;
  }

  /** Address of the list. */
  get list(): number {
    return this.#list;
  }

  /** Address of the per-op counters. */
  get counters(): number {
    return this.#counters;
  }

  /** Starts recording op `opcode`, cut as `cut`. */
  begin(opcode: number, cut: Chunking): this {
    if (this.#count === this.#capacity) this.#grow();
    this.#at = (this.#list >> 2) + this.#count * WORDS;
    const i32 = this.arena.i32;
    i32[this.#at] = opcode;
    i32[this.#at + 2] = cut.chunks;
    i32[this.#at + 3] = cut.size;
    this.#arg = 4;
    this.#reads.length = 0;
    this.#writes.length = 0;
    return this;
  }

  /** The next argument: an integer (an address or a count). */
  int(value: number): this {
    this.arena.i32[this.#at + this.#arg++] = value | 0;
    return this;
  }

  /** The next argument: a float. */
  float(value: number): this {
    this.arena.f32[this.#at + this.#arg++] = value;
    return this;
  }

  /** The op reads bytes [start, end). */
  reads(start: number, end: number): this {
    this.#reads.add(start, end);
    return this;
  }

  /** The op writes bytes [start, end). */
  writes(start: number, end: number): this {
    this.#writes.add(start, end);
    return this;
  }

  /** Finishes the op: a barrier goes before it when it reads what the segment wrote, or writes what it touched. */
  end(): void {
    const sr = this.#segmentReads, sw = this.#segmentWrites;
    const barrier = this.#count > 0 && (this.#reads.overlaps(sw) || this.#writes.overlaps(sw) || this.#writes.overlaps(sr));
    if (barrier) {
      sr.length = 0;
      sw.length = 0;
    }
    sr.addAll(this.#reads);
    sw.addAll(this.#writes);
    this.arena.i32[this.#at + 1] = barrier ? BARRIER : 0;
    this.#count++;
  }

  /** True when the op being recorded writes bytes overlapping [start, end). */
  writesInto(start: number, end: number): boolean {
    for (let i = 0; i < this.#writes.length; i++) if (this.#writes.starts[i] < end && start < this.#writes.ends[i]) return true;
    return false;
  }

  /** Sets every recorded op's counters for a run as generation `generation`: nothing claimed, nothing done. */
  arm(generation: number): void {
    const i32 = this.arena.i32;
    const tag = (generation & 0xfff) << 20;
    const at = this.#counters >> 2;
    for (let i = 0; i < this.#count; i++) {
      i32[at + 2 * i] = tag;
      i32[at + 2 * i + 1] = 0;
    }
  }

  /** Forgets the recorded ops (after they ran). */
  reset(): void {
    this.#count = 0;
    this.#segmentReads.length = 0;
    this.#segmentWrites.length = 0;
  }

  /**
   * Doubles the list. The old list and counters are never handed out again: a helper that fell behind may still read
   * them, and must find closed counters there (the list grows only with the ops of one run, not with batch shapes).
   */
  #grow(): void {
    const capacity = Math.max(256, this.#capacity * 2);
    const list = this.arena.alloc(capacity * WORDS * 4);
    if (this.#count > 0) this.arena.u8.copyWithin(list, this.#list, this.#list + this.#count * WORDS * 4);
    this.#list = list;
    this.#counters = this.arena.alloc(capacity * 8);
    this.#capacity = capacity;
  }
}
