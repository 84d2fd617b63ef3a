/**
 * The `js` backend: the reference kernels over plain typed arrays. Ops run at once; `read` copies.
 */
import { batchTables, kvElements, type BatchTables } from "../batch-tables.js";
import { bf16ToF32, f16ToF32 } from "../dtype.js";
import {
  encodeRows, encodeTernaryRows, matrixBytes, matrixViews, setTernaryScale, ternaryScalesOf, type MatrixBytes, type WeightFormat,
} from "../formats.js";
import type {
  Activation, AttentionParams, Batch, BatchSequence, Buffer, KvCache, KvCacheSpec, KernelCounts, Kernels, Op, TernarySource, Weight, WeightSource, WorkLimits,
} from "../kernels.js";
import { checkLimits, checkRange, checkTernarySource } from "../kernel-checks.js";
import * as ref from "./ops.js";

/** A JS buffer: a Float32Array view. */
interface JsBuffer extends Buffer {
  readonly data: Float32Array;
}

/** A JS weight: a stored matrix, or a float32 vector. */
interface JsWeight extends Weight {
  readonly matrix?: ref.StoredMatrix;
  readonly vector?: Float32Array;
}

interface JsKvCache extends KvCache {
  readonly K: Float32Array;
  readonly V: Float32Array;
}

interface JsBatch extends Batch {
  readonly tables: BatchTables;
}

/** Rows converted per call of a weight's row source while storing it. */
const ROWS_PER_CHUNK = 256;

/** The plain-JS reference backend; supports every op and format. */
export class JsKernels implements Kernels {
  readonly name = "js" as const;
  readonly threads = 1;
  readonly simd = "none" as const;
  readonly memoryLimit = Infinity;
  #bytes = 0;
  #ops = 0;

  /** True for every op and format. */
  supports(_op: Op, _format?: WeightFormat): boolean {
    return true;
  }

  /** Stores a matrix [N, K] or vector [n] as `format` (vectors are always float32). */
  weight(shape: readonly number[], format: WeightFormat, values: Float32Array | WeightSource | TernarySource): Weight {
    if (values instanceof Float32Array || values.type !== "ternary") {
      if (shape.length === 1) {                                // a vector: float32, as it is
        const data = readRows(values, 0, 1, shape[0]).slice();
        this.#bytes += 4 * data.length;
        const made: JsWeight = { shape: [...shape], format: "float32", bytes: 4 * data.length, vector: data };
        return made;
      }
    } else {
      checkTernarySource(shape, format, values);
    }
    const [N, K] = shape;
    const bytes = matrixBytes(format, N, K);
    const stored: ref.StoredMatrix = { format, N, K, bytes: matrixViews(new ArrayBuffer(bytes), 0, bytes) };
    if (!(values instanceof Float32Array) && values.type === "ternary") storeTernary(values, N, K, stored.bytes);
    else {
      if (format === "ternary") setTernaryScale(stored.bytes, N, K, ternaryScalesOf(meanAbs(values, N, K)));
      for (let r = 0; r < N; r += ROWS_PER_CHUNK) {
        const to = Math.min(N, r + ROWS_PER_CHUNK);
        encodeRows(format, readRows(values, r, to, K), to - r, N, K, stored.bytes, r);
      }
    }
    this.#bytes += bytes;
    const made: JsWeight = { shape: [...shape], format, bytes, matrix: stored };
    return made;
  }

  /** A zeroed Float32Array buffer. */
  buffer(length: number): Buffer {
    this.#bytes += 4 * length;
    const made: JsBuffer = { length, data: new Float32Array(length) };
    return made;
  }

  /** A subarray view. */
  view(buffer: Buffer, offset: number, length: number): Buffer {
    checkRange(buffer, offset, length);
    const made: JsBuffer = { length, data: data(buffer).subarray(offset, offset + length) };
    return made;
  }

  /** Two zeroed Float32Arrays (keys, values). */
  kvCache(spec: KvCacheSpec): KvCache {
    const n = kvElements(spec);
    this.#bytes += 8 * n;
    const made: JsKvCache = { spec: { ...spec }, bytes: 8 * n, K: new Float32Array(n), V: new Float32Array(n) };
    return made;
  }

  /** The batch's tables as typed arrays. */
  batch(cache: KvCache, sequences: readonly BatchSequence[]): Batch {
    const tables = batchTables(sequences, cache.spec.blockSize, cache.spec.blocks);
    const made: JsBatch = { rows: tables.rows, outputs: tables.outputRows.length, tables };
    return made;
  }

  /** Copies `values` in. */
  write(buffer: Buffer, values: Float32Array, offset = 0): void {
    checkRange(buffer, offset, values.length);
    data(buffer).set(values, offset);
  }

  /** Copies `length` elements out. */
  read(buffer: Buffer, length = buffer.length): Float32Array {
    checkRange(buffer, 0, length);
    return data(buffer).slice(0, length);
  }

  /** Nothing to size: the reference ops take their working arrays per call, and the garbage collector takes them back. */
  /** Op calls so far; no barriers (ops run one after another on the calling thread). */
  counts(): KernelCounts {
    return { ops: this.#ops, barriers: 0 };
  }

  reserve(limits: WorkLimits): void {
    checkLimits(limits);
  }

  /** Bytes allocated so far. */
  memoryBytes(): number {
    return this.#bytes;
  }

  /** The same as memoryBytes: nothing this backend holds is ever given back. */
  memoryHighWater(): number {
    return this.#bytes;
  }

  /** Nothing to free: the arrays go with the garbage collector. */
  async dispose(): Promise<void> {}

  embed(out: Buffer, table: Weight, batch: Batch): void {
    this.#ops++;
    ref.embed(data(out), matrix(table), tables(batch));
  }

  rmsnorm(out: Buffer, x: Buffer, w: Weight, rows: number, eps: number): void {
    this.#ops++;
    ref.rmsnorm(data(out), data(x), vector(w), rows, eps);
  }

  layernorm(out: Buffer, x: Buffer, w: Weight, b: Weight, rows: number, eps: number): void {
    this.#ops++;
    ref.layernorm(data(out), data(x), vector(w), vector(b), rows, eps);
  }

  matmul(out: Buffer, x: Buffer, w: Weight, rows: number, bias?: Weight, accumulate = false): void {
    this.#ops++;
    const m = matrix(w), o = data(out), b = bias === undefined ? undefined : vector(bias);
    if (!accumulate) return ref.matmul(o, data(x), m, rows, b);
    const product = new Float32Array(rows * m.N);
    ref.matmul(product, data(x), m, rows, b);
    ref.add(o, o, product, rows * m.N);
  }

  gatedMatmul(out: Buffer, x: Buffer, gate: Weight, up: Weight, rows: number, act: Activation, scratch: Buffer): void {
    this.#ops++;
    const g = matrix(gate);
    ref.matmul(data(out), data(x), g, rows);
    ref.matmul(data(scratch), data(x), matrix(up), rows);
    ref.glu(data(out), data(out), data(scratch), rows * g.N, act);
  }

  rope(x: Buffer, cos: Weight, sin: Weight, batch: Batch, heads: number, headDim: number, rotaryDim: number): void {
    this.#ops++;
    ref.rope(data(x), vector(cos), vector(sin), tables(batch), heads, headDim, rotaryDim);
  }

  kvWrite(cache: KvCache, layer: number, k: Buffer, v: Buffer, batch: Batch): void {
    this.#ops++;
    const c = cache as JsKvCache;
    ref.kvWrite(c.K, c.V, c.spec, layer, data(k), data(v), tables(batch));
  }

  attention(out: Buffer, q: Buffer, cache: KvCache, layer: number, batch: Batch, p: AttentionParams): void {
    this.#ops++;
    const c = cache as JsKvCache;
    ref.attention(data(out), data(q), c.K, c.V, c.spec, layer, tables(batch), p.heads, p.kvHeads, p.headDim, p.scale, p.window ?? 0, p.softcap ?? 0);
  }

  glu(out: Buffer, gate: Buffer, up: Buffer, n: number, act: Activation): void {
    this.#ops++;
    ref.glu(data(out), data(gate), data(up), n, act);
  }

  activation(out: Buffer, x: Buffer, n: number, act: Activation): void {
    this.#ops++;
    ref.activation(data(out), data(x), n, act);
  }

  add(out: Buffer, a: Buffer, b: Buffer, n: number): void {
    this.#ops++;
    ref.add(data(out), data(a), data(b), n);
  }

  scale(out: Buffer, x: Buffer, s: number, n: number): void {
    this.#ops++;
    ref.scale(data(out), data(x), s, n);
  }

  softcap(out: Buffer, x: Buffer, cap: number, n: number): void {
    this.#ops++;
    ref.softcap(data(out), data(x), cap, n);
  }

  gather(out: Buffer, x: Buffer, batch: Batch, width: number): void {
    this.#ops++;
    ref.gather(data(out), data(x), tables(batch), width);
  }

  addPositions(x: Buffer, table: Weight, batch: Batch, width: number): void {
    this.#ops++;
    const t = vector(table), b = tables(batch);
    for (let r = 0; r < b.rows; r++) {
      if ((b.positions[r] + 1) * width > t.length) throw new RangeError(`position ${b.positions[r]} is outside a table of ${t.length / width} positions`);
    }
    ref.addPositions(data(x), t, b, width);
  }
}

/** Writes ternary values, a chunk of rows at a time, and their scale; RangeError on a value outside {-1, 0, 1}. */
function storeTernary(source: TernarySource, N: number, K: number, dst: MatrixBytes): void {
  setTernaryScale(dst, N, K, { scale: Math.fround(source.scale), inverse: Math.fround(1 / source.scale) });
  for (let r = 0; r < N; r += ROWS_PER_CHUNK) {
    const to = Math.min(N, r + ROWS_PER_CHUNK);
    const q = new Int8Array((to - r) * K);
    source.read(r, to, q);
    const bad = q.findIndex((v) => v < -1 || v > 1);
    if (bad >= 0) throw new RangeError(`ternary value ${q[bad]} at row ${r + Math.floor(bad / K)}, column ${bad % K} is not -1, 0 or 1`);
    encodeTernaryRows(q, to - r, N, K, dst, r);
  }
}

/** Mean |w| of an [N, K] matrix's values (a pass over the source, summed in float64 in row order). */
function meanAbs(values: Float32Array | WeightSource, N: number, K: number): number {
  let sum = 0;
  for (let r = 0; r < N; r += ROWS_PER_CHUNK) {
    const rows = readRows(values, r, Math.min(N, r + ROWS_PER_CHUNK), K);
    for (let i = 0; i < rows.length; i++) sum += Math.abs(rows[i]);
  }
  return sum / (N * K);
}

/** Rows from .. to (K values each) of a weight's values, as float32. */
function readRows(values: Float32Array | WeightSource, from: number, to: number, K: number): Float32Array {
  if (values instanceof Float32Array) return values.subarray(from * K, to * K);
  const n = (to - from) * K;
  if (values.type === "F32") {
    const out = new Float32Array(n);
    values.read(from, to, out);
    return out;
  }
  const bits = new Uint16Array(n), out = new Float32Array(n);
  values.read(from, to, bits);
  (values.type === "BF16" ? bf16ToF32 : f16ToF32)(bits, out);
  return out;
}

function data(b: Buffer): Float32Array {
  return (b as JsBuffer).data;
}

function matrix(w: Weight): ref.StoredMatrix {
  const m = (w as JsWeight).matrix;
  if (m === undefined) throw new RangeError("a vector weight was given where a matrix is expected");
  return m;
}

function vector(w: Weight): Float32Array {
  const v = (w as JsWeight).vector;
  if (v === undefined) throw new RangeError("a matrix weight was given where a vector is expected");
  return v;
}

function tables(b: Batch): BatchTables {
  return (b as JsBatch).tables;
}

