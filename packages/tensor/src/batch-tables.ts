/**
 * One step's batch as flat integer tables (what every backend uploads): each row's token, position and KV
 * slot, which sequence it belongs to, the block tables, and the rows whose logits come back.
 */
import type { BatchSequence, KvCacheSpec } from "./kernels.js";

/** The rows of one uploaded batch, as every backend reads them. */
export interface BatchTables {
  readonly rows: number;
  readonly tokens: Int32Array;
  /** Position of each row. */
  readonly positions: Int32Array;
  /** KV slot (block · blockSize + offset) of each row. */
  readonly slots: Int32Array;
  /** Per row: the index of its sequence (a sequence's rows are consecutive). */
  readonly seqOf: Int32Array;
  /** Per sequence, flattened: first row, row count, block table offset into `blockTables`, block count. */
  readonly sequences: Int32Array;
  readonly blockTables: Int32Array;
  /** Rows whose logits come back. */
  readonly outputRows: Int32Array;
}

/** Builds the tables of `sequences`; throws RangeError naming the sequence when its blocks or ids do not fit. */
export function batchTables(sequences: readonly BatchSequence[], blockSize: number, blocks: number): BatchTables {
  let rows = 0, tableLength = 0, outputs = 0;
  for (const s of sequences) {
    rows += s.tokens.length;
    tableLength += s.blocks.length;
    const mode = s.logits ?? "last";
    outputs += mode === "all" ? s.tokens.length : mode === "last" && s.tokens.length > 0 ? 1 : 0;
  }
  const t: BatchTables = {
    rows,
    tokens: new Int32Array(rows),
    positions: new Int32Array(rows),
    slots: new Int32Array(rows),
    seqOf: new Int32Array(rows),
    sequences: new Int32Array(4 * sequences.length),
    blockTables: new Int32Array(tableLength),
    outputRows: new Int32Array(outputs),
  };
  let row = 0, at = 0, out = 0;
  sequences.forEach((s, i) => {
    const n = s.tokens.length;
    if (!Number.isSafeInteger(s.start) || s.start < 0) throw new RangeError(`batch sequence ${i}: start ${s.start} must be an integer ≥ 0`);
    if (s.blocks.length * blockSize < s.start + n) {
      throw new RangeError(`batch sequence ${i}: ${s.blocks.length} blocks of ${blockSize} cannot hold ${s.start + n} positions`);
    }
    for (let b = 0; b < s.blocks.length; b++) {
      const id = s.blocks[b];
      if (!Number.isSafeInteger(id) || id < 0 || id >= blocks) throw new RangeError(`batch sequence ${i}: block id ${id} outside the pool of ${blocks}`);
      t.blockTables[at + b] = id;
    }
    t.sequences.set([row, n, at, s.blocks.length], 4 * i);
    for (let j = 0; j < n; j++) {
      const id = s.tokens[j];
      if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`batch sequence ${i}: token ${j} has id ${id}`);
      const p = s.start + j;
      t.tokens[row + j] = id;
      t.positions[row + j] = p;
      t.slots[row + j] = s.blocks[Math.floor(p / blockSize)] * blockSize + (p % blockSize);
      t.seqOf[row + j] = i;
    }
    const mode = s.logits ?? "last";
    if (mode === "all") for (let j = 0; j < n; j++) t.outputRows[out++] = row + j;
    else if (mode === "last" && n > 0) t.outputRows[out++] = row + n - 1;
    row += n;
    at += s.blocks.length;
  });
  return t;
}

/** Elements of one K (or V) array of a pool: layers × blocks × kvHeads × blockSize × headDim. */
export function kvElements(spec: KvCacheSpec): number {
  return spec.layers * spec.blocks * spec.kvHeads * spec.blockSize * spec.headDim;
}
