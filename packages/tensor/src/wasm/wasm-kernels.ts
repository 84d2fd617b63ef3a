/**
 * The `wasm` backend: SIMD WebAssembly kernels (compiled from AssemblyScript) over one shared memory, run by the
 * calling thread and `threads − 1` helper threads. Ops are recorded into a command list (with barriers only
 * where an op depends on an earlier one) and run in one go when data is read back: every thread walks the same
 * list and claims chunks of each op, so a forward pass costs one wake-up, not one message per op, and a helper
 * that is not scheduled just does less (the calling thread never waits for a helper that has no work in hand).
 */
import { Worker } from "node:worker_threads";
import { batchTables, kvElements } from "../batch-tables.js";
import { TILE_ROWS, matrixLayout, ternaryScalesOf, type TernaryScales, type WeightFormat } from "../formats.js";
import type {
  Activation, AttentionParams, Batch, BatchSequence, Buffer, KvCache, KvCacheSpec, KernelCounts, Kernels, Op, TernarySource, Weight, WeightSource, WorkLimits,
} from "../kernels.js";
import { checkLimits, checkRange, checkTernarySource } from "../kernel-checks.js";
import { Arena, MAX_PAGES } from "./arena.js";
import { kernelModule, type SimdLevel } from "./module.js";
import type { OpArgs, OpName } from "./op-table.js";
import { Recorder, chunking, type Chunking, type Range } from "./recorder.js";
import type { HelperData } from "./thread.js";

interface WasmBuffer extends Buffer {
  readonly ptr: number;
}

interface WasmWeight extends Weight {
  readonly ptr: number;
  readonly N: number;
  readonly K: number;
  /** Values per row including padding (a whole number of the format's chunks). */
  readonly Kp: number;
}

interface WasmKvCache extends KvCache {
  readonly K: number;
  readonly V: number;
  /** Bytes of one layer of K (or V). */
  readonly layerBytes: number;
}

interface WasmBatch extends Batch {
  readonly generation: number;
  /** The largest position of any row. */
  readonly maxPosition: number;
  readonly tokens: number;
  readonly positions: number;
  readonly slots: number;
  readonly seqOf: number;
  readonly sequences: number;
  readonly blockTables: number;
  readonly outputRows: number;
  /** Attention tiles: [first row, rows] each, up to ATTENTION_TILE consecutive rows of one sequence. */
  readonly tiles: number;
  readonly tileCount: number;
  readonly tableBytes: Range;
}

/** The module's weight conversions (assembly/convert.ts). */
interface Conversions {
  widenHalves(dst: number, src: number, n: number, bf: number): void;
  narrowToHalves(dst: number, src: number, n: number, bf: number): void;
  packRows(dst: number, src: number, rows: number, K: number, bytes: number, row0: number): void;
  quantizeWeights(q: number, src: number, rows: number, K: number, row0: number): void;
  quantizeQ4Weights(q: number, src: number, rows: number, K: number, row0: number): void;
  ternaryAbsSum(src: number, n: number, acc: number): number;
  ternarizeRows(dst: number, src: number, rows: number, K: number, row0: number, inverse: number): void;
  packTernary(dst: number, src: number, rows: number, K: number, row0: number): number;
}

/** The module's arithmetic peak probes (assembly/peak.ts): `n` iterations over 1 KiB of operands at p, returning a lane. */
interface Probes {
  peakF32(n: number, p: number): number;
  peakI16(n: number, p: number): number;
}

/** Control block words (see assembly/index.ts). */
const CTRL = { gen: 0, list: 1, count: 2, counters: 3, stop: 6, scratch: 8, stride: 9, fault: 10 } as const;
const FORMAT_CODE: Readonly<Record<WeightFormat, number>> = { float32: 0, float16: 1, bfloat16: 2, int8: 3, ternary: 4, q4: 5 };
const ACT_CODE: Readonly<Record<Activation, number>> = { silu: 0, gelu_tanh: 1, relu2: 2 };
/** Activation rows from which the ternary kernel unpacks each tile once into per-thread scratch (assembly/ternary.ts). */
const TERNARY_UNPACK_ROWS = 4;
/** Activation rows from which the 16-bit kernels widen each tile once into per-thread scratch (assembly/matmul-half.ts). */
const HALF_UNPACK_ROWS = 4;
/** Activation rows from which the int8 kernel widens each tile once into per-thread scratch (assembly/matmul-i8.ts). */
const INT8_UNPACK_ROWS = 4;
/** Query rows of one attention tile (assembly/attention.ts's TILE). */
const ATTENTION_TILE = 4;
/** Values converted per chunk of rows while storing a weight. */
const VALUES_PER_CHUNK = 1 << 20;

/** An rmsnorm or glu as recorded, for the preparation of its output to join it (rows: the norm's; width: D, or the glu's n). */
interface LastOp {
  readonly kind: "rmsnorm" | "glu";
  /** The recorder's count of ops right after it. */
  readonly stamp: number;
  readonly out: number;
  readonly rows: number;
  readonly width: number;
  readonly cut: Chunking;
  readonly x: number;
  readonly w: number;
  readonly eps: number;
  readonly gate: number;
  readonly up: number;
  readonly act: number;
}

/** A rope as recorded (kvHeads 0), or a ropeQk (k, kvHeads: the keys'), for the next rope or kvWrite to join it. */
interface LastRope {
  readonly stamp: number;
  /** The batch it rotated by. */
  readonly generation: number;
  readonly q: number;
  readonly k: number;
  readonly cos: number;
  readonly sin: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly rotaryDim: number;
  readonly cut: Chunking;
}

/** One thread's SIMD arithmetic peak (see {@link WasmKernels.measurePeak}). */
export interface SimdPeak {
  /** GFLOP/s of float32 multiply-adds. */
  readonly float32: number;
  /** GOP/s of the int8 products' integer multiply-adds (2 ops each). */
  readonly int8: number;
}

/** Options of {@link WasmKernels.create}. */
export interface WasmOptions {
  /** Threads, the calling one included (default 1). */
  readonly threads?: number;
  /** Which SIMD build (default: relaxed where the runtime validates it). */
  readonly simd?: SimdLevel | "auto";
}

/** SIMD WebAssembly kernels on threads sharing one memory. */
export class WasmKernels implements Kernels {
  readonly name = "wasm" as const;
  readonly threads: number;
  readonly simd: SimdLevel;
  readonly memoryLimit = MAX_PAGES * 65536;
  readonly #arena: Arena;
  readonly #recorder: Recorder;
  readonly #run: (ctrl: number, generation: number) => void;
  readonly #convert: Conversions;
  /** The arithmetic peak probes (assembly/peak.ts). */
  readonly #probes: Probes;
  /** Staging for weight conversion: 16-bit source values, then float32 values. */
  #staging: { u16: number; f32: number; values: number } = { u16: 0, f32: 0, values: 0 };
  readonly #ctrl: number;
  readonly #helpers: Worker[];
  /** Per-thread scratch (attention scores, a ternary tile's unpacked fields, elementwise tails): one stride per thread. */
  #scratch: Range = [0, 0];
  #scratchFloats = 0;
  #batchRegion: Range = [0, 0];
  #batchGeneration = 0;
  /**
   * Activations prepared for the product with int8 weights (i16 values, row scales), ternary weights (int8 values in
   * the build's layout, row scales, row sums) or 16-bit float weights (reordered f32): one kind at a time.
   */
  #preparedRegion: Range = [0, 0];
  /** Which activations the prepared region holds, while nothing overwrote them. */
  #prepared: { kind: WeightFormat; x: number; rows: number; K: number } | undefined;
  /** Where the last int8 or ternary activations prepared lie: values, row scales, row sums (reused: no allocation per op). */
  readonly #at = { ptr: 0, scales: 0, sums: 0 };
  /** The longest rows stored so far of the formats whose products prepare activations (padded for int8 and ternary). */
  #widest = { int8: 0, ternary: 0, halves: 0 };
  /** The KV pool the batch tables index (its blocks and block size). */
  #kv = { blocks: 0, blockSize: 1, headDim: 1 };
  /** The last rope (or ropeQk) recorded, which the next rope or kvWrite of the same rows may join. */
  #lastRope: LastRope | undefined;
  /** The last rmsnorm or glu recorded (see {@link #fusable}). */
  #last: LastOp | undefined;
  #broken: Error | undefined;
  #disposed = false;

  private constructor(arena: Arena, simd: SimdLevel, instance: WebAssembly.Instance, ctrl: number, helpers: Worker[]) {
    this.#arena = arena;
    this.simd = simd;
    this.#recorder = new Recorder(arena);
    this.#run = instance.exports.run as (ctrl: number, generation: number) => void;
    this.#convert = instance.exports as unknown as Conversions;
    this.#probes = instance.exports as unknown as Probes;
    this.#ctrl = ctrl;
    this.#helpers = helpers;
    this.threads = helpers.length + 1;
  }

  /** Starts the backend: compiles (once per process) and instantiates the module, then starts the helper threads. */
  static async create(options: WasmOptions = {}): Promise<WasmKernels> {
    const threads = options.threads ?? 1;
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
    const { module, simd } = kernelModule(options.simd ?? "auto");
    const arena = new Arena();
    const instance = new WebAssembly.Instance(module, { env: { memory: arena.memory, abort: () => undefined } });
    const ctrl = arena.alloc(256);
    const helpers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const data: HelperData = { module, memory: arena.memory, ctrl, tid, generation: 0 };
      const worker = new Worker(new URL("./wasm-thread.js", import.meta.url), { workerData: data, name: `actorlm:wasm-${tid}` });
      worker.unref();
      ready.push(new Promise((resolve, reject) => {
        worker.once("message", () => resolve());
        worker.once("error", reject);
      }));
      helpers.push(worker);
    }
    try {
      await Promise.all(ready);
    } catch (error) {
      await Promise.all(helpers.map((w) => w.terminate()));
      throw error;
    }
    const kernels = new WasmKernels(arena, simd, instance, ctrl, helpers);
    kernels.#ensureScratch(1024);
    return kernels;
  }

  /**
   * Memory bandwidth the kernels reach: GB/s of the fastest of `repeats` passes summing a `bytes`-byte buffer on
   * `threads` threads (what bounds a decode step, which reads every weight once).
   */
  static async measureBandwidth(threads: number, bytes = 256 * 2 ** 20, repeats = 5): Promise<number> {
    const kernels = await WasmKernels.create({ threads });
    try {
      const n = Math.floor(bytes / 4 / 1024) * 1024;
      const data = kernels.#arena.alloc(4 * n);
      kernels.#arena.f32.fill(1, data >> 2, (data >> 2) + n);          // touch every page first
      const out = kernels.#arena.alloc(16 * 4 * threads);
      let best = Infinity;
      for (let i = 0; i < repeats; i++) {
        const t0 = performance.now();
        const cut = chunking(n, threads, 64, 1 << 16);
        kernels.#begin("sum", cut, { out, data, n }).reads(data, data + 4 * n).writes(out, out + 16 * cut.chunks);
        kernels.#end();
        kernels.#flush();
        best = Math.min(best, performance.now() - t0);
      }
      return (4 * n) / (best / 1000) / 1e9;
    } finally {
      await kernels.dispose();
    }
  }

  /**
   * The SIMD arithmetic peak of one thread: the fastest of many short calls, over about `seconds`, of loops of the
   * instructions the matrix products run on (operands from L1, nothing the compiler can hoist), on the calling thread (one thread, so that a core another
   * process holds for a moment does not halve it; the threads' peak is this times the threads, one core each; the many
   * calls let the optimizing compiler's code take over from the baseline compiler's). `float32`: GFLOP/s of f32x4
   * multiply-adds (fused where the relaxed build runs, else a multiply and an add: what the float32, float16 and
   * bfloat16 products run on); `int8`: GOP/s (2 per multiply-add) of i32x4.dot_i16x8_s with its add (what the int8
   * products run on, their weights widened to i16). A product's rate over this is the share of the peak it reaches.
   */
  static async measurePeak(seconds = 0.4): Promise<SimdPeak> {
    const kernels = await WasmKernels.create({ threads: 1 });
    try {
      const { peakF32, peakI16 } = kernels.#probes;
      const operands = kernels.#arena.alloc(1024), iterations = 1 << 15;
      kernels.#arena.f32.fill(0.5, operands >> 2, (operands + 1024) >> 2);
      const rate = (probe: (n: number, p: number) => number, opsPerIteration: number): number => {
        let best = Infinity;
        const until = performance.now() + (seconds * 1000) / 2;
        for (let i = 0; performance.now() < until || i < 8; i++) {
          const t0 = performance.now();
          probe(iterations, operands);
          best = Math.min(best, performance.now() - t0);
        }
        return (iterations * opsPerIteration) / (best / 1000) / 1e9;
      };
      return { float32: rate(peakF32, 64), int8: rate(peakI16, 128) };
    } finally {
      await kernels.dispose();
    }
  }

  /** Every op, for every weight format. */
  supports(_op: Op, format?: WeightFormat): boolean {
    return format === undefined || format in FORMAT_CODE;
  }

  // ---- memory ----

  /**
   * Reads the rows a chunk at a time straight into wasm memory (their place, or a reused staging area when they
   * need converting) and converts them there: fresh memory is touched once.
   */
  weight(shape: readonly number[], format: WeightFormat, values: Float32Array | WeightSource | TernarySource): Weight {
    this.#usable();
    if (!(values instanceof Float32Array) && values.type === "ternary") return this.#ternaryWeight(shape, format, values);
    if (shape.length === 1) {                                  // a vector: float32, plain
      const n = shape[0], ptr = this.#arena.alloc(4 * n), source = sourceOf(values, n);
      if (source.type === "F32") source.read(0, 1, new Float32Array(this.#arena.buffer, ptr, n));
      else {
        const st = this.#stage(n);
        source.read(0, 1, new Uint16Array(this.#arena.buffer, st.u16, n));
        this.#convert.widenHalves(ptr, st.u16, n, source.type === "BF16" ? 1 : 0);
      }
      const made: WasmWeight = { shape: [...shape], format: "float32", bytes: 4 * n, ptr, N: 1, K: n, Kp: n };
      return made;
    }
    const [N, K] = shape;
    const layout = matrixLayout(format, N, K);
    const ptr = this.#arena.alloc(layout.bytes);
    const rows = rowsPerChunk(K);
    const source = sourceOf(values, K);
    const scales = format === "ternary" ? this.#ternaryScales(source, N, K, ptr) : undefined;
    for (let r = 0; r < N; r += rows) this.#store(format, source, Math.min(N, r + rows) - r, K, ptr, r, scales);
    const made: WasmWeight = { shape: [...shape], format, bytes: layout.bytes, ptr, N, K, Kp: layout.chunks * layout.chunk };
    this.#widen(made);
    return made;
  }

  /** A ternary matrix from values that are ternary already: packed in wasm a chunk of rows at a time, checked there. */
  #ternaryWeight(shape: readonly number[], format: WeightFormat, source: TernarySource): Weight {
    checkTernarySource(shape, format, source);
    const [N, K] = shape;
    const layout = matrixLayout("ternary", N, K);
    const ptr = this.#arena.alloc(layout.bytes);
    this.#setTernaryScales(ptr, layout.bytes, { scale: Math.fround(source.scale), inverse: Math.fround(1 / source.scale) });
    const rows = rowsPerChunk(K);
    for (let r = 0; r < N; r += rows) {
      const n = Math.min(N, r + rows) - r, st = this.#stage(n * K);
      source.read(r, r + n, new Int8Array(this.#arena.buffer, st.u16, n * K));
      const bad = this.#convert.packTernary(ptr, st.u16, n, K, r);
      if (bad >= 0) {
        const value = new Int8Array(this.#arena.buffer, st.u16 + bad, 1)[0];
        throw new RangeError(`ternary value ${value} at row ${r + Math.floor(bad / K)}, column ${bad % K} is not -1, 0 or 1`);
      }
    }
    const made: WasmWeight = { shape: [...shape], format: "ternary", bytes: layout.bytes, ptr, N, K, Kp: layout.chunks * layout.chunk };
    this.#widen(made);
    return made;
  }

  /** Notes a stored matrix's row length where its products prepare activations (what {@link reserve} sizes for). */
  #widen(m: WasmWeight): void {
    const w = this.#widest;
    if (m.format === "int8" || m.format === "q4") w.int8 = Math.max(w.int8, m.Kp);   // q4 prepares int8's activations
    else if (m.format === "ternary") w.ternary = Math.max(w.ternary, m.Kp);
    else if (m.format !== "float32") w.halves = Math.max(w.halves, m.K);
  }

  /** BitNet b1.58's scales of float rows read from `source` (mean |w|: a first pass), stored in the matrix's trailer. */
  #ternaryScales(source: WeightSource, N: number, K: number, ptr: number): TernaryScales {
    const rows = rowsPerChunk(K);
    let sum = 0;
    for (let r = 0; r < N; r += rows) {
      const n = Math.min(N, r + rows) - r;
      sum = this.#convert.ternaryAbsSum(this.#readFloats(source, n, K, r), n * K, sum);
    }
    const scales = ternaryScalesOf(sum / (N * K));
    this.#setTernaryScales(ptr, matrixLayout("ternary", N, K).bytes, scales);
    return scales;
  }

  /** Writes a ternary matrix's scales into its trailer (the last 16 of its `bytes` bytes at ptr). */
  #setTernaryScales(ptr: number, bytes: number, scales: TernaryScales): void {
    const at = (ptr + bytes - 16) >> 2;
    this.#arena.f32[at] = scales.scale;
    this.#arena.f32[at + 1] = scales.inverse;
  }

  /** Rows r0 .. r0 + n of `source` as float32 in the staging area; returns their address. */
  #readFloats(source: WeightSource, n: number, K: number, r0: number): number {
    const count = n * K, a = this.#arena, st = this.#stage(count);
    if (source.type === "F32") source.read(r0, r0 + n, new Float32Array(a.buffer, st.f32, count));
    else {
      source.read(r0, r0 + n, new Uint16Array(a.buffer, st.u16, count));
      this.#convert.widenHalves(st.f32, st.u16, count, source.type === "BF16" ? 1 : 0);
    }
    return st.f32;
  }

  /** Stores rows r0 .. r0 + n of `source` into the tiled matrix at ptr, through the staging area. */
  #store(format: WeightFormat, source: WeightSource, n: number, K: number, ptr: number, r0: number, scales?: TernaryScales): void {
    if (scales !== undefined) return this.#convert.ternarizeRows(ptr, this.#readFloats(source, n, K, r0), n, K, r0, scales.inverse);
    const count = n * K, a = this.#arena, type = source.type, c = this.#convert;
    const st = this.#stage(count);
    if (type === "F32") source.read(r0, r0 + n, new Float32Array(a.buffer, st.f32, count));
    else source.read(r0, r0 + n, new Uint16Array(a.buffer, st.u16, count));
    const half = format === "float16" || format === "bfloat16";
    if (half && type === (format === "float16" ? "F16" : "BF16")) return c.packRows(ptr, st.u16, n, K, 2, r0);
    if (type !== "F32") c.widenHalves(st.f32, st.u16, count, type === "BF16" ? 1 : 0);
    if (format === "float32") return c.packRows(ptr, st.f32, n, K, 4, r0);
    if (format === "int8") return c.quantizeWeights(ptr, st.f32, n, K, r0);
    if (format === "q4") return c.quantizeQ4Weights(ptr, st.f32, n, K, r0);
    c.narrowToHalves(st.u16, st.f32, count, format === "bfloat16" ? 1 : 0);
    c.packRows(ptr, st.u16, n, K, 2, r0);
  }

  /** Staging room for `values` values (16-bit and float32). */
  #stage(values: number): { u16: number; f32: number } {
    if (this.#staging.values < values) {
      const n = Math.max(values, VALUES_PER_CHUNK);
      this.#staging = { u16: this.#arena.alloc(2 * n), f32: this.#arena.alloc(4 * n), values: n };
    }
    return this.#staging;
  }

  buffer(length: number): Buffer {
    this.#usable();
    const made: WasmBuffer = { length, ptr: this.#arena.alloc(4 * length) };
    return made;
  }

  view(buffer: Buffer, offset: number, length: number): Buffer {
    checkRange(buffer, offset, length);
    const made: WasmBuffer = { length, ptr: ptrOf(buffer) + 4 * offset };
    return made;
  }

  kvCache(spec: KvCacheSpec): KvCache {
    this.#usable();
    const n = kvElements(spec);
    const K = this.#arena.alloc(4 * n), V = this.#arena.alloc(4 * n);
    this.#kv = { blocks: Math.max(this.#kv.blocks, spec.blocks), blockSize: spec.blockSize, headDim: Math.max(this.#kv.headDim, spec.headDim) };
    const made: WasmKvCache = { spec: { ...spec }, bytes: 8 * n, K, V, layerBytes: (4 * n) / spec.layers };
    return made;
  }

  batch(cache: KvCache, sequences: readonly BatchSequence[]): Batch {
    this.#usable();
    this.#flush();                                          // the region is reused: nothing pending may read the old batch
    const t = batchTables(sequences, cache.spec.blockSize, cache.spec.blocks);
    const parts = [t.tokens, t.positions, t.slots, t.seqOf, t.sequences, t.blockTables, t.outputRows, attentionTiles(t.sequences)];
    this.#batchRegion = this.#fit(this.#batchRegion, parts.reduce((n, p) => n + 4 * p.length + 16, 0));
    const i32 = this.#arena.i32;
    let at = this.#batchRegion[0];
    const ptrs = parts.map((p) => {
      const here = at;
      i32.set(p, here >> 2);
      at += 4 * p.length + 16;
      return here;
    });
    let maxPosition = 0;
    for (let r = 0; r < t.rows; r++) maxPosition = Math.max(maxPosition, t.positions[r]);
    const made: WasmBatch = {
      rows: t.rows, outputs: t.outputRows.length, generation: ++this.#batchGeneration, maxPosition,
      tokens: ptrs[0], positions: ptrs[1], slots: ptrs[2], seqOf: ptrs[3], sequences: ptrs[4], blockTables: ptrs[5], outputRows: ptrs[6],
      tiles: ptrs[7], tileCount: parts[7].length / 2,
      tableBytes: [this.#batchRegion[0], at],
    };
    return made;
  }

  write(buffer: Buffer, data: Float32Array, offset = 0): void {
    this.#usable();
    checkRange(buffer, offset, data.length);
    this.#flush();
    this.#arena.f32.set(data, (ptrOf(buffer) >> 2) + offset);
    this.#prepared = undefined;
  }

  read(buffer: Buffer, length = buffer.length): Float32Array {
    this.#usable();
    checkRange(buffer, 0, length);
    this.#flush();
    const at = ptrOf(buffer) >> 2;
    return this.#arena.f32.slice(at, at + length);
  }

  /**
   * Sizes the prepared-activation region for `rows` rows of the widest int8, ternary and 16-bit matrices stored so far,
   * the per-thread scratch for a query group's scores over `positions` positions, and the batch tables for `rows`
   * sequences; the weight-conversion staging is given back first, so these reuse it.
   */
  reserve(limits: WorkLimits): void {
    this.#usable();
    const { rows, positions, queriesPerKvHead } = checkLimits(limits);
    if (this.#staging.values > 0) {
      this.#arena.release(this.#staging.u16, 2 * this.#staging.values);
      this.#arena.release(this.#staging.f32, 4 * this.#staging.values);
      this.#staging = { u16: 0, f32: 0, values: 0 };
    }
    const w = this.#widest;
    const prepared = Math.max(4 * Math.min(rows, HALF_UNPACK_ROWS - 1) * w.halves, w.int8 && preparedBytes(rows, w.int8), w.ternary && preparedBytes(rows, w.ternary));
    this.#preparedRoom(prepared);
    this.#ensureScratch(Math.max(
      attentionScratch(queriesPerKvHead, this.#kv.headDim, this.#kv.blockSize),
      w.ternary > 0 && rows >= TERNARY_UNPACK_ROWS ? 2 * w.ternary : 0,
      w.halves > 0 && rows >= HALF_UNPACK_ROWS ? 4 * align8(w.halves) : 0,
      w.int8 > 0 && rows >= INT8_UNPACK_ROWS ? (17 * w.int8) / 8 : 0,
    ));
    const blocks = Math.min(this.#kv.blocks, Math.ceil(positions / this.#kv.blockSize));
    this.#batchRegion = this.#fit(this.#batchRegion, 4 * (11 * rows + rows * blocks) + 8 * 16);
  }

  memoryBytes(): number {
    return this.#arena.used;
  }

  memoryHighWater(): number {
    return this.#arena.highWater;
  }

  /** Records of the command lists run so far, and how many of them waited at a barrier. */
  counts(): KernelCounts {
    return { ops: this.#recorder.recorded, barriers: this.#recorder.barriers };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const i32 = this.#arena.i32, c = this.#ctrl >> 2;
    Atomics.store(i32, c + CTRL.stop, 1);
    Atomics.add(i32, c + CTRL.gen, 1);
    Atomics.notify(i32, c + CTRL.gen);
    await Promise.all(this.#helpers.map((w) => w.terminate()));
  }

  // ---- ops ----

  embed(out: Buffer, table: Weight, batch: Batch): void {
    const w = table as WasmWeight, b = this.#batch(batch);
    const o = ptrOf(out);
    if (w.format === "ternary") {
      this.#begin("embedTernary", this.#cut(b.rows, 1, Math.ceil(4096 / w.K)), { out: o, table: w.ptr, tokens: b.tokens, rows: b.rows, N: w.N, K: w.K })
        .reads(b.tableBytes[0], b.tableBytes[1]).writes(o, o + 4 * b.rows * w.K);
      this.#end();
      return;
    }
    this.#begin("embed", this.#cut(b.rows, 1, Math.ceil(4096 / w.K)), { out: o, table: w.ptr, tokens: b.tokens, rows: b.rows, K: w.K, format: FORMAT_CODE[w.format] })
      .reads(b.tableBytes[0], b.tableBytes[1]).writes(o, o + 4 * b.rows * w.K);
    this.#end();
  }

  rmsnorm(out: Buffer, x: Buffer, w: Weight, rows: number, eps: number): void {
    const D = w.shape[0], o = ptrOf(out), i = ptrOf(x), n = 4 * rows * D;
    const cut = this.#cut(rows, 1, Math.ceil(4096 / D));
    this.#begin("rmsnorm", cut, { out: o, x: i, w: ptrOf(w), rows, D, eps }).reads(i, i + n).writes(o, o + n);
    this.#end();
    this.#last = { kind: "rmsnorm", stamp: this.#recorder.recorded, out: o, rows, width: D, cut, x: i, w: ptrOf(w), eps, gate: 0, up: 0, act: 0 };
  }

  layernorm(out: Buffer, x: Buffer, w: Weight, b: Weight, rows: number, eps: number): void {
    const D = w.shape[0], o = ptrOf(out), i = ptrOf(x), n = 4 * rows * D;
    this.#begin("layernorm", this.#cut(rows, 1, Math.ceil(4096 / D)), { out: o, x: i, w: ptrOf(w), b: ptrOf(b), rows, D, eps }).reads(i, i + n).writes(o, o + n);
    this.#end();
  }

  matmul(out: Buffer, x: Buffer, w: Weight, rows: number, bias?: Weight, accumulate = false): void {
    const m = w as WasmWeight, { N, K, Kp } = m;
    const o = ptrOf(out), b = bias === undefined ? 0 : ptrOf(bias), n = 4 * rows * N, add = accumulate ? 1 : 0;
    const a = this.#productInput(x, rows, m), cut = this.#cutWeights(N, N * K, rows);
    switch (m.format) {
      case "float32":
        this.#begin("matmulF32", cut, { out: o, x: a.x, w: m.ptr, rows, N, K, bias: b, accumulate: add });
        break;
      case "float16": case "bfloat16":
        this.#begin(m.format === "float16" ? "matmulF16" : "matmulBF16", cut, { out: o, x: a.x, w: m.ptr, rows, N, K, bias: b, accumulate: add });
        break;
      case "int8": case "q4":
        this.#begin(m.format === "int8" ? "matmulI8" : "matmulQ4", cut, { out: o, x: a.x, scales: a.scales, w: m.ptr, rows, N, Kp, bias: b, accumulate: add });
        break;
      case "ternary":
        this.#begin("matmulTernary", cut, { out: o, x: a.x, scales: a.scales, sums: a.sums, w: m.ptr, rows, N, Kp, bias: b, accumulate: add });
        break;
    }
    const r = this.#recorder.reads(a.x, a.x + a.bytes).writes(o, o + n);
    if (a.scales !== 0) r.reads(a.scales, a.scales + 4 * rows);
    if (a.sums !== 0) r.reads(a.sums, a.sums + 4 * rows);
    if (accumulate) r.reads(o, o + n);
    this.#end();
  }

  /** Joins the rope just recorded when that rotated the queries of the same rows (one op: ropeQk). */
  rope(x: Buffer, cos: Weight, sin: Weight, batch: Batch, heads: number, headDim: number, rotaryDim: number): void {
    const b = this.#batch(batch), i = ptrOf(x), n = 4 * b.rows * heads * headDim, c = ptrOf(cos), s = ptrOf(sin);
    const last = this.#lastRope, r = this.#recorder;
    if (last !== undefined && last.stamp === r.recorded && r.count > 0 && last.kvHeads === 0 && last.generation === b.generation
      && last.cos === c && last.sin === s && last.headDim === headDim && last.rotaryDim === rotaryDim && last.q !== i) {
      const cut = this.#cut(b.rows * (last.heads + heads), 1, Math.ceil(2048 / headDim));
      r.reopen("ropeQk", cut, { q: last.q, k: i, cos: c, sin: s, positions: b.positions, rows: b.rows, heads: last.heads, kvHeads: heads, headDim, rotaryDim })
        .reads(i, i + n).writes(i, i + n);
      this.#end();
      this.#lastRope = { ...last, stamp: r.recorded, k: i, kvHeads: heads, cut };
      return;
    }
    const cut = this.#cut(b.rows * heads, 1, Math.ceil(2048 / headDim));
    this.#begin("rope", cut, { x: i, cos: c, sin: s, positions: b.positions, rows: b.rows, heads, headDim, rotaryDim })
      .reads(i, i + n).reads(b.tableBytes[0], b.tableBytes[1]).writes(i, i + n);
    this.#end();
    this.#lastRope = { stamp: r.recorded, generation: b.generation, q: i, k: 0, cos: c, sin: s, heads, kvHeads: 0, headDim, rotaryDim, cut };
  }

  /** Joins the ropeQk just recorded when it rotated these keys (one op: ropeKvWrite). */
  kvWrite(cache: KvCache, layer: number, k: Buffer, v: Buffer, batch: Batch): void {
    const c = cache as WasmKvCache, b = this.#batch(batch);
    const { kvHeads, headDim, blockSize } = c.spec;
    const n = 4 * b.rows * kvHeads * headDim;
    const Kl = c.K + layer * c.layerBytes, Vl = c.V + layer * c.layerBytes, kp = ptrOf(k), vp = ptrOf(v);
    const last = this.#lastRope, r = this.#recorder;
    if (last !== undefined && last.stamp === r.recorded && r.count > 0 && last.k === kp && last.kvHeads === kvHeads && last.headDim === headDim
      && last.generation === b.generation) {
      r.reopen("ropeKvWrite", last.cut, {
        q: last.q, k: kp, cos: last.cos, sin: last.sin, positions: b.positions, rows: b.rows, heads: last.heads, kvHeads, headDim,
        rotaryDim: last.rotaryDim, K: Kl, V: Vl, v: vp, slots: b.slots, blockSize,
      });
    } else {
      this.#begin("kvWrite", this.#cut(b.rows * kvHeads, 1, 64), { K: Kl, V: Vl, k: kp, v: vp, slots: b.slots, rows: b.rows, kvHeads, headDim, blockSize })
        .reads(kp, kp + n).reads(b.tableBytes[0], b.tableBytes[1]);
    }
    r.reads(vp, vp + n).writes(Kl, Kl + c.layerBytes).writes(Vl, Vl + c.layerBytes);
    this.#end();
    this.#lastRope = undefined;
  }

  attention(out: Buffer, q: Buffer, cache: KvCache, layer: number, batch: Batch, p: AttentionParams): void {
    const c = cache as WasmKvCache, b = this.#batch(batch);
    const n = 4 * b.rows * p.heads * p.headDim;
    const Kl = c.K + layer * c.layerBytes, Vl = c.V + layer * c.layerBytes, o = ptrOf(out), qp = ptrOf(q);
    this.#ensureScratch(attentionScratch(p.heads / p.kvHeads, p.headDim, c.spec.blockSize));
    this.#begin("attention", this.#cut(b.tileCount * p.kvHeads, 1, 1), {
      out: o, q: qp, K: Kl, V: Vl, positions: b.positions, seqOf: b.seqOf, sequences: b.sequences, tables: b.blockTables,
      tiles: b.tiles, tileCount: b.tileCount, heads: p.heads, kvHeads: p.kvHeads, headDim: p.headDim, scale: p.scale, window: p.window ?? 0, softcap: p.softcap ?? 0,
      blockSize: c.spec.blockSize,
    })
      .reads(qp, qp + n).reads(Kl, Kl + c.layerBytes).reads(Vl, Vl + c.layerBytes).reads(b.tableBytes[0], b.tableBytes[1]).writes(o, o + n);
    this.#end();
  }

  glu(out: Buffer, gate: Buffer, up: Buffer, n: number, act: Activation): void {
    const o = ptrOf(out), g = ptrOf(gate), u = ptrOf(up);
    const cut = this.#cut(n, 16, 4096);
    this.#begin("glu", cut, { out: o, gate: g, up: u, n, act: ACT_CODE[act] })
      .reads(g, g + 4 * n).reads(u, u + 4 * n).writes(o, o + 4 * n);
    this.#end();
    this.#last = { kind: "glu", stamp: this.#recorder.recorded, out: o, rows: 0, width: n, cut, x: 0, w: 0, eps: 0, gate: g, up: u, act: ACT_CODE[act] };
  }

  gatedMatmul(out: Buffer, x: Buffer, gate: Weight, up: Weight, rows: number, act: Activation, scratch: Buffer): void {
    const g = gate as WasmWeight, u = up as WasmWeight, { N, K, format } = g;
    if (u.N !== N || u.K !== K || u.format !== format) throw new RangeError(`gatedMatmul: gate [${N}, ${K}] ${format} and up [${u.N}, ${u.K}] ${u.format} differ`);
    const o = ptrOf(out), s = ptrOf(scratch), n = 4 * rows * N;
    const a = this.#productInput(x, rows, g);
    this.#begin("gatedMatmul", this.#cutWeights(N, 2 * N * K, rows), {
      out: o, up: s, x: a.x, scales: a.scales, sums: a.sums, wGate: g.ptr, wUp: u.ptr, rows, N, K, Kp: g.Kp, act: ACT_CODE[act], format: FORMAT_CODE[format],
    }).reads(a.x, a.x + a.bytes).writes(o, o + n).writes(s, s + n);
    if (a.scales !== 0) this.#recorder.reads(a.scales, a.scales + 4 * rows);
    if (a.sums !== 0) this.#recorder.reads(a.sums, a.sums + 4 * rows);
    this.#end();
  }

  /**
   * The activations x ([rows, K]) as the product with `m` reads them: x itself (float32; 16-bit weights from
   * HALF_UNPACK_ROWS rows on), reordered (16-bit weights below that), or quantized (int8, ternary; scales and sums
   * beside), preparing them first where needed; `bytes`: the extent of the values.
   */
  #productInput(x: Buffer, rows: number, m: WasmWeight): { x: number; scales: number; sums: number; bytes: number } {
    const { K, Kp } = m, i = ptrOf(x);
    switch (m.format) {
      case "float32":
        return { x: i, scales: 0, sums: 0, bytes: 4 * rows * K };
      case "float16": case "bfloat16": {
        if (rows >= HALF_UNPACK_ROWS) this.#ensureScratch(4 * Kp);              // a tile widened to float32, 16·Kp bytes
        const xp = rows >= HALF_UNPACK_ROWS ? i : this.#prepareHalves(x, rows, K, m.format);
        return { x: xp, scales: 0, sums: 0, bytes: 4 * rows * K };
      }
      case "int8": case "q4": {                                                  // q4 takes int8's activations
        if (rows >= INT8_UNPACK_ROWS) this.#ensureScratch((17 * Kp) / 8);       // a tile widened to i16, 8.5·Kp bytes
        const q = this.#quantize(x, rows, K, Kp);
        return { x: q.ptr, scales: q.scales, sums: 0, bytes: 2 * rows * Kp };
      }
      case "ternary": {
        if (rows >= TERNARY_UNPACK_ROWS) this.#ensureScratch(2 * Kp);           // a tile's unpacked fields, 8·Kp bytes
        const q = this.#prepareTernary(x, rows, K, Kp);
        return { x: q.ptr, scales: q.scales, sums: q.sums, bytes: 2 * rows * Kp };
      }
    }
  }

  activation(out: Buffer, x: Buffer, n: number, act: Activation): void {
    const o = ptrOf(out), i = ptrOf(x);
    this.#begin("activation", this.#cut(n, 16, 4096), { out: o, x: i, n, act: ACT_CODE[act] }).reads(i, i + 4 * n).writes(o, o + 4 * n);
    this.#end();
  }

  add(out: Buffer, a: Buffer, b: Buffer, n: number): void {
    const o = ptrOf(out), x = ptrOf(a), y = ptrOf(b);
    this.#begin("add", this.#cut(n, 16, 8192), { out: o, a: x, b: y, n }).reads(x, x + 4 * n).reads(y, y + 4 * n).writes(o, o + 4 * n);
    this.#end();
  }

  scale(out: Buffer, x: Buffer, s: number, n: number): void {
    const o = ptrOf(out), i = ptrOf(x);
    this.#begin("scale", this.#cut(n, 16, 8192), { out: o, x: i, s, n }).reads(i, i + 4 * n).writes(o, o + 4 * n);
    this.#end();
  }

  softcap(out: Buffer, x: Buffer, cap: number, n: number): void {
    const o = ptrOf(out), i = ptrOf(x);
    this.#begin("softcap", this.#cut(n, 16, 4096), { out: o, x: i, cap, n }).reads(i, i + 4 * n).writes(o, o + 4 * n);
    this.#end();
  }

  gather(out: Buffer, x: Buffer, batch: Batch, width: number): void {
    const b = this.#batch(batch), o = ptrOf(out), i = ptrOf(x);
    this.#begin("gather", this.#cut(b.outputs, 1, Math.ceil(4096 / width)), { out: o, x: i, outputRows: b.outputRows, outputs: b.outputs, width })
      .reads(i, i + 4 * b.rows * width).reads(b.tableBytes[0], b.tableBytes[1]).writes(o, o + 4 * b.outputs * width);
    this.#end();
  }

  addPositions(x: Buffer, table: Weight, batch: Batch, width: number): void {
    const b = this.#batch(batch), i = ptrOf(x), n = 4 * b.rows * width;
    if ((b.maxPosition + 1) * width > table.shape[0]) throw new RangeError(`position ${b.maxPosition} is outside a table of ${table.shape[0] / width} positions`);
    this.#begin("addPositions", this.#cut(b.rows, 1, Math.ceil(4096 / width)), { x: i, table: ptrOf(table), positions: b.positions, rows: b.rows, width })
      .reads(i, i + n).reads(b.tableBytes[0], b.tableBytes[1]).writes(i, i + n);
    this.#end();
  }

  // ---- internals ----

  /** Starts recording op `op` with its arguments (after checking the backend is usable). */
  #begin<N extends OpName>(op: N, cut: Chunking, args: OpArgs<N>): Recorder {
    this.#usable();
    return this.#recorder.begin(op, cut, args);
  }

  /** Finishes the op; one that overwrites the prepared activations' source drops them. */
  #end(): void {
    const p = this.#prepared;
    if (p !== undefined && this.#recorder.writesInto(p.x, p.x + 4 * p.rows * p.K)) this.#prepared = undefined;
    this.#recorder.end();
  }

  /** True when the scratch holds x ([rows, K]) prepared for `kind` weights. */
  #isPrepared(kind: WeightFormat, x: Buffer, rows: number, K: number): boolean {
    const p = this.#prepared;
    return p !== undefined && p.kind === kind && p.x === ptrOf(x) && p.rows === rows && p.K === K;
  }

  /** x ([rows, K]) reordered (and scaled) for 16-bit float weights in the shared scratch; returns its address. */
  #prepareHalves(x: Buffer, rows: number, K: number, format: "float16" | "bfloat16"): number {
    if (this.#isPrepared(format, x, rows, K)) return this.#preparedRegion[0];
    const xp = this.#preparedRoom(4 * rows * K), i = ptrOf(x);
    this.#begin("prepareHalves", this.#cut(rows, 1, Math.ceil(4096 / K)), { out: xp, x: i, rows, K, scale: format === "float16" ? 2 ** 56 : 1 })
      .reads(i, i + 4 * rows * K).writes(xp, xp + 4 * rows * K);
    this.#end();
    this.#prepared = { kind: format, x: i, rows, K };
    return xp;
  }

  /**
   * How to cut a product's N output columns: chunks of about 16 K weights (64 KB in float32; fewer when several rows
   * share them), at most 8 per thread, so a thread that stalls holds little of the work and claims stay few. Cut by
   * weights, not bytes: an int8 or ternary weight costs as much work as a float32 one in fewer bytes.
   */
  #cutWeights(N: number, values: number, rows: number): Chunking {
    if (this.threads === 1) return chunking(N, 1, 4, N);
    const wanted = Math.max(1, Math.min(8 * this.threads, Math.floor((values * Math.max(1, Math.min(rows, 8))) / 16384)));
    const size = Math.ceil(Math.ceil(N / wanted) / 4) * 4;
    return { chunks: Math.ceil(N / size), size };
  }

  /** How to cut `total` units between this backend's threads (see {@link chunking}). */
  #cut(total: number, align: number, min: number): Chunking {
    return chunking(total, this.threads, align, min);
  }

  /** int8 activations of x ([rows, K]) in the shared scratch, quantized once while x is unchanged. */
  #quantize(x: Buffer, rows: number, K: number, Kp: number): { readonly ptr: number; readonly scales: number } {
    const ready = this.#isPrepared("int8", x, rows, K);
    const q = this.#locate(ready ? this.#preparedRegion[0] : this.#preparedRoom(preparedBytes(rows, Kp)), rows, Kp);
    if (ready) return q;
    const i = ptrOf(x), last = this.#fusable(i, rows, K);
    if (last?.kind === "rmsnorm") {                           // the norm that made x quantizes its rows as it goes
      this.#recorder.reopen("rmsnormQuantize", last.cut, { out: i, x: last.x, w: last.w, rows, D: K, eps: last.eps, q: q.ptr, scales: q.scales, Kp });
    } else if (last?.kind === "glu") {                        // so does the glu that made x, cut by rows instead
      this.#recorder.reopen("gluQuantize", this.#cut(rows, 1, Math.ceil(4096 / K)),
        { out: i, gate: last.gate, up: last.up, rows, width: K, act: last.act, q: q.ptr, scales: q.scales, Kp });
    } else {
      this.#begin("quantize", this.#cut(rows, 1, Math.ceil(4096 / K)), { q: q.ptr, scales: q.scales, x: i, rows, K, Kp }).reads(i, i + 4 * rows * K);
    }
    this.#recorder.writes(q.ptr, q.ptr + 2 * rows * Kp).writes(q.scales, q.scales + 4 * rows);
    this.#end();
    this.#prepared = { kind: "int8", x: i, rows, K };
    return q;
  }

  /**
   * Activations of x ([rows, K]) prepared for ternary weights in the shared scratch (int8 values laid out for the
   * kernel, row scales, row sums), prepared once while x is unchanged.
   */
  #prepareTernary(x: Buffer, rows: number, K: number, Kp: number): { readonly ptr: number; readonly scales: number; readonly sums: number } {
    const ready = this.#isPrepared("ternary", x, rows, K);
    const q = this.#locate(ready ? this.#preparedRegion[0] : this.#preparedRoom(preparedBytes(rows, Kp)), rows, Kp);
    if (ready) return q;
    const i = ptrOf(x), last = this.#fusable(i, rows, K);
    if (last?.kind === "rmsnorm") {                           // the norm that made x prepares its rows as it goes
      this.#recorder.reopen("rmsnormTernary", last.cut, { out: i, x: last.x, w: last.w, rows, D: K, eps: last.eps, q: q.ptr, scales: q.scales, sums: q.sums, Kp });
    } else {
      this.#begin("prepareTernary", this.#cut(rows, 1, Math.ceil(4096 / K)), { q: q.ptr, scales: q.scales, sums: q.sums, x: i, rows, K, Kp })
        .reads(i, i + 4 * rows * K);
    }
    this.#recorder.writes(q.ptr, q.ptr + 2 * rows * Kp).writes(q.scales, q.scales + 4 * rows).writes(q.sums, q.sums + 4 * rows);
    this.#end();
    this.#prepared = { kind: "ternary", x: i, rows, K };
    return q;
  }

  /**
   * The op recorded last, when it is the rmsnorm or glu that wrote exactly x ([rows, K]) and nothing was recorded or
   * run since: the preparation of x for a product can join it as one fused op.
   */
  #fusable(x: number, rows: number, K: number): LastOp | undefined {
    const last = this.#last;
    if (last === undefined || last.stamp !== this.#recorder.recorded || this.#recorder.count === 0 || last.out !== x) return undefined;
    if (last.kind === "rmsnorm" ? last.rows === rows && last.width === K : last.width === rows * K) return last;
    return undefined;
  }

  /** Per-thread scratch of at least `wanted` floats (attention's running sums, a tile of weights widened, elementwise tails). */
  #ensureScratch(wanted: number): void {
    const floats = wanted + 64;
    if (floats <= this.#scratchFloats) return;
    const stride = Math.ceil((4 * Math.max(floats, 2 * this.#scratchFloats)) / 64) * 64;
    this.#scratch = this.#fit(this.#scratch, stride * this.threads);
    const i32 = this.#arena.i32, c = this.#ctrl >> 2;
    i32[c + CTRL.scratch] = this.#scratch[0];
    i32[c + CTRL.stride] = stride;
    this.#scratchFloats = stride / 4;
  }

  /** Where [rows, Kp] activations prepared for int8 or ternary weights at `ptr` keep their parts (see {@link preparedBytes}). */
  #locate(ptr: number, rows: number, Kp: number): { readonly ptr: number; readonly scales: number; readonly sums: number } {
    const at = this.#at;
    at.ptr = ptr;
    at.scales = ptr + align64(2 * rows * Kp);
    at.sums = at.scales + align64(4 * rows);
    return at;
  }

  /** The prepared region's address, holding at least `bytes` (when it moves, what it held is gone). */
  #preparedRoom(bytes: number): number {
    const region = this.#fit(this.#preparedRegion, bytes);
    if (region !== this.#preparedRegion) {
      this.#preparedRegion = region;
      this.#prepared = undefined;
    }
    return region[0];
  }

  /**
   * `region` when it holds `bytes`; else a region of max(bytes, twice its size), after the recorded ops ran, the old
   * one released for reuse (working memory follows the largest op, never the number of ops that outgrew it).
   */
  #fit(region: Range, bytes: number): Range {
    const have = region[1] - region[0];
    if (have >= bytes) return region;
    this.#flush();
    this.#arena.release(region[0], have);
    const size = align64(Math.max(bytes, 2 * have)), at = this.#arena.alloc(size);
    return [at, at + size];
  }

  /** The batch, if it is the current one (a batch is valid until the next `batch` call). */
  #batch(batch: Batch): WasmBatch {
    const b = batch as WasmBatch;
    if (b.generation !== this.#batchGeneration) throw new RangeError("this batch was replaced by a later batch() call");
    return b;
  }

  /** Publishes the recorded ops as a new generation, runs them with whichever helpers join, returns when all are done. */
  #flush(): void {
    const count = this.#recorder.count;
    if (count === 0) return;
    const i32 = this.#arena.i32, c = this.#ctrl >> 2;
    const generation = (Atomics.load(i32, c + CTRL.gen) + 1) | 0;
    this.#recorder.arm(generation);
    i32[c + CTRL.list] = this.#recorder.list;
    i32[c + CTRL.count] = count;
    i32[c + CTRL.counters] = this.#recorder.counters;
    this.#recorder.reset();
    Atomics.store(i32, c + CTRL.gen, generation);
    if (this.threads > 1) Atomics.notify(i32, c + CTRL.gen);
    try {
      this.#run(this.#ctrl, generation);
    } catch (error) {
      Atomics.store(this.#arena.i32, c + CTRL.fault, 1);
      this.#broken = error instanceof Error ? error : new Error(String(error));
      throw new RangeError(`wasm kernels failed: ${this.#broken.message}`, { cause: error });
    }
  }

  #usable(): void {
    if (this.#disposed) throw new RangeError("wasm kernels were disposed");
    if (this.#broken !== undefined) throw new RangeError(`wasm kernels are unusable after a failure: ${this.#broken.message}`);
  }

}

/** Attention tiles of a batch: each sequence's rows cut into runs of up to ATTENTION_TILE, as [first row, rows] pairs. */
function attentionTiles(sequences: Int32Array): Int32Array {
  let count = 0;
  for (let s = 0; s < sequences.length; s += 4) count += Math.ceil(sequences[s + 1] / ATTENTION_TILE);
  const tiles = new Int32Array(2 * count);
  let at = 0;
  for (let s = 0; s < sequences.length; s += 4) {
    for (let r = 0; r < sequences[s + 1]; r += ATTENTION_TILE) {
      tiles[at++] = sequences[s] + r;
      tiles[at++] = Math.min(ATTENTION_TILE, sequences[s + 1] - r);
    }
  }
  return tiles;
}

/** Floats of per-thread scratch one attention unit needs (assembly/attention.ts): sums and stats per query, a block's scores. */
function attentionScratch(group: number, headDim: number, blockSize: number): number {
  return ATTENTION_TILE * group * (headDim + 2) + blockSize + 16;
}

/** Bytes of [rows, Kp] activations prepared for int8 or ternary weights: values (2·rows·Kp), row scales, row sums (ternary), 64-aligned each. */
function preparedBytes(rows: number, Kp: number): number {
  return align64(2 * rows * Kp) + align64(4 * rows) + 4 * rows;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Rows of K values converted per chunk while storing a weight (a multiple of the tile's 4 rows). */
function rowsPerChunk(K: number): number {
  return Math.max(TILE_ROWS, Math.floor(VALUES_PER_CHUNK / K / TILE_ROWS) * TILE_ROWS);
}

/** A weight's values as a source (plain values are read from memory). */
function sourceOf(values: Float32Array | WeightSource, K: number): WeightSource {
  if (!(values instanceof Float32Array)) return values;
  return { type: "F32", read: (from, to, into) => into.set(values.subarray(from * K, to * K)) };
}

function ptrOf(handle: Buffer | Weight): number {
  return (handle as WasmBuffer).ptr;
}
