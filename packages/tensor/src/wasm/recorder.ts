/**
 * The command list: ops recorded as 32-word records in wasm memory, with a barrier flag wherever an op must see
 * what earlier ops wrote (or must not overwrite what they read). Dependencies are found from the byte ranges
 * each op reads and writes, so independent ops (q, k and v projections of the same input) run back to back.
 */
import type { Arena } from "./arena.js";

/** Opcodes, as `assembly/index.ts` numbers them. */
export const OP = {
  matmulF32: 1, matmulF16: 2, matmulBF16: 3, matmulI8: 4, quantize: 5, rmsnorm: 6, layernorm: 7, rope: 8,
  kvWrite: 9, attention: 10, glu: 11, activation: 12, add: 13, scale: 14, softcap: 15, embed: 16, gather: 17,
} as const;

const WORDS = 32;
const BARRIER = 1;

/** A byte range [start, end) of wasm memory. */
export type Range = readonly [start: number, end: number];

/** One op argument: an integer (pointers and counts) or a float (marked with `f`). */
export type Arg = number | { readonly f: number };

/** True when any range of `a` overlaps any range of `b`. */
export function overlaps(a: readonly Range[], b: readonly Range[]): boolean {
  for (const [s, e] of a) for (const [s2, e2] of b) if (s < e2 && s2 < e) return true;
  return false;
}

/** Records ops into a growable region of the arena. */
export class Recorder {
  #list = 0;
  #capacity = 0;
  #count = 0;
  #read: Range[] = [];
  #written: Range[] = [];

  constructor(private readonly arena: Arena) {}

  /** Ops recorded since the last `reset`. */
  get count(): number {
    return this.#count;
  }

  /** Address of the list. */
  get list(): number {
    return this.#list;
  }

  /** Appends an op that reads `reads` and writes `writes`; a barrier goes before it when it depends on earlier ops. */
  record(opcode: number, args: readonly Arg[], reads: readonly Range[], writes: readonly Range[]): void {
    if (this.#count === this.#capacity) this.#grow();
    const barrier = this.#count > 0 && (overlaps(reads, this.#written) || overlaps(writes, this.#written) || overlaps(writes, this.#read));
    if (barrier) {
      this.#read = [];
      this.#written = [];
    }
    this.#read.push(...reads);
    this.#written.push(...writes);
    const at = (this.#list >> 2) + this.#count * WORDS;
    const i32 = this.arena.i32, f32 = this.arena.f32;
    i32[at] = opcode;
    i32[at + 1] = barrier ? BARRIER : 0;
    args.forEach((a, i) => {
      if (typeof a === "number") i32[at + 2 + i] = a | 0;
      else f32[at + 2 + i] = a.f;
    });
    this.#count++;
  }

  /** Forgets the recorded ops (after they ran). */
  reset(): void {
    this.#count = 0;
    this.#read = [];
    this.#written = [];
  }

  #grow(): void {
    const capacity = Math.max(256, this.#capacity * 2);
    const list = this.arena.alloc(capacity * WORDS * 4);
    if (this.#count > 0) this.arena.u8.copyWithin(list, this.#list, this.#list + this.#count * WORDS * 4);
    this.#list = list;
    this.#capacity = capacity;
  }
}
