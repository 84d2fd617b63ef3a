/**
 * The command list: ops recorded as 32-word records in wasm memory, each cut into chunks that threads claim,
 * with a barrier flag wherever an op must see what earlier ops wrote (or must not overwrite what they read).
 * Dependencies are found from the byte ranges each op reads and writes, so independent ops (the q, k and v
 * projections of one input) run back to back. Each op has two counters beside the list: chunks claimed
 * (tagged with the list's generation) and chunks done.
 */
import type { Arena } from "./arena.js";
import { HEADER_WORDS, OP_TABLE, RECORD_WORDS, type OpArgs, type OpName, type OpSpec } from "./op-table.js";

const BARRIER = 1;

/** One op's record as the recorder writes it: opcode, argument names in slot order, which slots hold floats. */
interface Layout {
  readonly code: number;
  readonly names: readonly string[];
  readonly floats: readonly boolean[];
}

const LAYOUTS = Object.fromEntries(Object.entries(OP_TABLE).map(([name, spec]: [string, OpSpec]) => {
  const slots = Object.entries(spec.args);
  const layout: Layout = { code: spec.code, names: slots.map(([slot]) => slot), floats: slots.map(([, type]) => type === "f32") };
  return [name, layout];
})) as Readonly<Record<OpName, Layout>>;

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
 * Records ops into a growable region of the arena, one at a time: `begin` with the op's arguments by name (the
 * layout is op-table.ts's), the ranges it reads and writes, then `end`, which decides whether it needs a barrier.
 */
export class Recorder {
  #list = 0;
  #counters = 0;
  #capacity = 0;
  #count = 0;
  #at = 0;
  /** The segment's ranges before the last op joined it, and whether that op started a segment (for `reopen`). */
  #before = { reads: 0, writes: 0, barrier: false };
  #forceBarrier = false;
  readonly #segmentReads = new Ranges();
  readonly #segmentWrites = new Ranges();
  readonly #reads = new Ranges();
  readonly #writes = new Ranges();

  constructor(private readonly arena: Arena) {}

  /** Ops recorded since the recorder was made (every run's together). */
  recorded = 0;
  /** Of them, ops flagged with a barrier. */
  barriers = 0;

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

  /** Starts recording op `op`, cut as `cut`, with its arguments (written into the record's slots by name). */
  begin<N extends OpName>(op: N, cut: Chunking, args: OpArgs<N>): this {
    if (this.#count === this.#capacity) this.#grow();
    this.#write((this.#list >> 2) + this.#count * RECORD_WORDS, op, cut, args);
    this.#reads.length = 0;
    this.#writes.length = 0;
    return this;
  }

  /**
   * Reopens the op recorded last (since the last `reset`) as `op`, cut as `cut`, with `args`, keeping the ranges it
   * read and wrote: more may be added before `end` decides its barrier again (a fused op replacing the last one and
   * the one that would follow it on the same rows).
   */
  reopen<N extends OpName>(op: N, cut: Chunking, args: OpArgs<N>): this {
    if (this.#count === 0) throw new RangeError("no op to reopen");
    const before = this.#before, sr = this.#segmentReads, sw = this.#segmentWrites;
    this.#count--;
    this.recorded--;
    if (before.barrier) {                                  // it started a segment: it starts the same one again
      this.barriers--;
      sr.length = 0;
      sw.length = 0;
    } else {
      sr.length = before.reads;
      sw.length = before.writes;
    }
    this.#forceBarrier = before.barrier;
    this.#write(this.#at, op, cut, args);
    return this;
  }

  /** Writes a record at word `at`: opcode, cut, arguments. */
  #write<N extends OpName>(at: number, op: N, cut: Chunking, args: OpArgs<N>): void {
    const { i32, f32 } = this.arena;
    const layout = LAYOUTS[op], values = args as Readonly<Record<string, number>>;
    i32[at] = layout.code;
    i32[at + 2] = cut.chunks;
    i32[at + 3] = cut.size;
    for (let k = 0; k < layout.names.length; k++) {
      const value = values[layout.names[k]];
      if (layout.floats[k]) f32[at + HEADER_WORDS + k] = value;
      else i32[at + HEADER_WORDS + k] = value | 0;
    }
    this.#at = at;
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
    const barrier = this.#forceBarrier || (this.#count > 0 && (this.#reads.overlaps(sw) || this.#writes.overlaps(sw) || this.#writes.overlaps(sr)));
    const before = this.#before;
    before.reads = sr.length;
    before.writes = sw.length;
    before.barrier = barrier;
    this.#forceBarrier = false;
    if (barrier) {
      sr.length = 0;
      sw.length = 0;
    }
    sr.addAll(this.#reads);
    sw.addAll(this.#writes);
    this.arena.i32[this.#at + 1] = barrier ? BARRIER : 0;
    this.#count++;
    this.recorded++;
    if (barrier) this.barriers++;
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
    const list = this.arena.alloc(capacity * RECORD_WORDS * 4);
    if (this.#count > 0) this.arena.u8.copyWithin(list, this.#list, this.#list + this.#count * RECORD_WORDS * 4);
    this.#list = list;
    this.#counters = this.arena.alloc(capacity * 8);
    this.#capacity = capacity;
  }
}
