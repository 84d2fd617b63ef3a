/**
 * The `wasm` backend: SIMD WebAssembly kernels (compiled from AssemblyScript) over one shared memory, run by the
 * calling thread and `threads − 1` helper threads. Ops are recorded into a command list (with barriers only
 * where an op depends on an earlier one) and run in one go when data is read back: every thread walks the same
 * list and does its share of each op, so a forward pass costs one wake-up, not one message per op.
 */
import { Worker } from "node:worker_threads";
import { batchTables, kvElements } from "../batch-tables.js";
import { encodeRows, matrixLayout, type WeightFormat } from "../formats.js";
import type {
  Activation, AttentionParams, Batch, BatchSequence, Buffer, KvCache, KvCacheSpec, Kernels, Op, Weight,
} from "../kernels.js";
import { checkRange } from "../reference/js-kernels.js";
import { Arena, MAX_PAGES } from "./arena.js";
import { kernelModule, type SimdLevel } from "./module.js";
import { OP, Recorder, overlaps, type Arg, type Range } from "./recorder.js";
import type { HelperData } from "./thread.js";

interface WasmBuffer extends Buffer {
  readonly ptr: number;
}

interface WasmWeight extends Weight {
  readonly ptr: number;
  /** int8: address of the block scales (0 otherwise). */
  readonly scales: number;
  readonly N: number;
  readonly K: number;
  /** Elements per stored row. */
  readonly stride: number;
}

interface WasmKvCache extends KvCache {
  readonly K: number;
  readonly V: number;
  /** Bytes of one layer of K (or V). */
  readonly layerBytes: number;
}

interface WasmBatch extends Batch {
  readonly generation: number;
  readonly tokens: number;
  readonly positions: number;
  readonly slots: number;
  readonly seqOf: number;
  readonly sequences: number;
  readonly blockTables: number;
  readonly outputRows: number;
  readonly tableBytes: Range;
}

/** Control block words (see assembly/index.ts). */
const CTRL = { gen: 0, list: 1, count: 2, threads: 3, stop: 6, scratch: 8, stride: 9, fault: 10 } as const;
const FORMAT_CODE: Readonly<Record<WeightFormat, number>> = { float32: 0, float16: 1, bfloat16: 2, int8: 3 };
const ACT_CODE: Readonly<Record<Activation, number>> = { silu: 0, gelu_tanh: 1, relu2: 2 };
const MATMUL_OP: Readonly<Record<Exclude<WeightFormat, "int8">, number>> = { float32: OP.matmulF32, float16: OP.matmulF16, bfloat16: OP.matmulBF16 };
/** Rows converted per call of a weight's row source. */
const ROWS_PER_CHUNK = 256;

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
  readonly #run: (ctrl: number, list: number, count: number, tid: number, nth: number) => void;
  readonly #ctrl: number;
  readonly #helpers: Worker[];
  #scratchFloats = 0;
  #batchRegion: Range = [0, 0];
  #batchGeneration = 0;
  #quant: { ptr: number; bytes: number; scales: number; rows: number } = { ptr: 0, bytes: 0, scales: 0, rows: 0 };
  /** The activations last quantized into the int8 scratch, while nothing overwrote them. */
  #quantized: { x: number; rows: number; K: number } | undefined;
  #broken: Error | undefined;
  #disposed = false;

  private constructor(arena: Arena, simd: SimdLevel, instance: WebAssembly.Instance, ctrl: number, helpers: Worker[]) {
    this.#arena = arena;
    this.simd = simd;
    this.#recorder = new Recorder(arena);
    this.#run = instance.exports.run as (ctrl: number, list: number, count: number, tid: number, nth: number) => void;
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

  /** Every op, for every weight format. */
  supports(_op: Op, format?: WeightFormat): boolean {
    return format === undefined || format in FORMAT_CODE;
  }

  // ---- memory ----

  weight(shape: readonly number[], format: WeightFormat, rows: (from: number, to: number) => Float32Array): Weight {
    this.#usable();
    const [N, K] = shape.length === 1 ? [1, shape[0]] : [shape[0], shape[1]];
    const fmt: WeightFormat = shape.length === 1 ? "float32" : format;
    const layout = matrixLayout(fmt, N, K);
    const ptr = this.#arena.alloc(layout.dataBytes);
    const scales = layout.scales > 0 ? this.#arena.alloc(4 * layout.scales) : 0;
    for (let r = 0; r < N; r += ROWS_PER_CHUNK) {
      const to = Math.min(N, r + ROWS_PER_CHUNK);
      encodeRows(fmt, rows(r, to), to - r, K, this.#storage(fmt, ptr, scales, N, layout.stride, layout.scales), r);
    }
    const made: WasmWeight = { shape: [...shape], format: fmt, bytes: layout.dataBytes + 4 * layout.scales, ptr, scales, N, K, stride: layout.stride };
    return made;
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
    this.#ensureScratch(spec.blocks * spec.blockSize);
    const made: WasmKvCache = { spec: { ...spec }, bytes: 8 * n, K, V, layerBytes: (4 * n) / spec.layers };
    return made;
  }

  batch(cache: KvCache, sequences: readonly BatchSequence[]): Batch {
    this.#usable();
    this.#flush();                                          // the region is reused: nothing pending may read the old batch
    const t = batchTables(sequences, cache.spec.blockSize, cache.spec.blocks);
    const parts = [t.tokens, t.positions, t.slots, t.seqOf, t.sequences, t.blockTables, t.outputRows];
    const bytes = parts.reduce((n, p) => n + 4 * p.length + 16, 0);
    if (this.#batchRegion[1] - this.#batchRegion[0] < bytes) {
      const at = this.#arena.alloc(2 * bytes);
      this.#batchRegion = [at, at + 2 * bytes];
    }
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
    this.#ensureScratch(maxPosition + 1);
    const made: WasmBatch = {
      rows: t.rows, outputs: t.outputRows.length, generation: ++this.#batchGeneration,
      tokens: ptrs[0], positions: ptrs[1], slots: ptrs[2], seqOf: ptrs[3], sequences: ptrs[4], blockTables: ptrs[5], outputRows: ptrs[6],
      tableBytes: [this.#batchRegion[0], at],
    };
    return made;
  }

  write(buffer: Buffer, data: Float32Array, offset = 0): void {
    this.#usable();
    checkRange(buffer, offset, data.length);
    this.#flush();
    this.#arena.f32.set(data, (ptrOf(buffer) >> 2) + offset);
    this.#quantized = undefined;
  }

  read(buffer: Buffer, length = buffer.length): Float32Array {
    this.#usable();
    checkRange(buffer, 0, length);
    this.#flush();
    const at = ptrOf(buffer) >> 2;
    return this.#arena.f32.slice(at, at + length);
  }

  memoryBytes(): number {
    return this.#arena.used;
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
    this.#op(OP.embed, [ptrOf(out), w.ptr, w.scales, b.tokens, b.rows, w.K, FORMAT_CODE[w.format], w.stride],
      [b.tableBytes], [range(out, b.rows * w.K)]);
  }

  rmsnorm(out: Buffer, x: Buffer, w: Weight, rows: number, eps: number): void {
    const D = w.shape[0];
    this.#op(OP.rmsnorm, [ptrOf(out), ptrOf(x), ptrOf(w), rows, D, { f: eps }], [range(x, rows * D)], [range(out, rows * D)]);
  }

  layernorm(out: Buffer, x: Buffer, w: Weight, b: Weight, rows: number, eps: number): void {
    const D = w.shape[0];
    this.#op(OP.layernorm, [ptrOf(out), ptrOf(x), ptrOf(w), ptrOf(b), rows, D, { f: eps }], [range(x, rows * D)], [range(out, rows * D)]);
  }

  matmul(out: Buffer, x: Buffer, w: Weight, rows: number, bias?: Weight): void {
    const m = w as WasmWeight;
    const { N, K } = m;
    const biasPtr = bias === undefined ? 0 : ptrOf(bias);
    if (m.format !== "int8") {
      this.#op(MATMUL_OP[m.format], [ptrOf(out), ptrOf(x), m.ptr, rows, N, K, biasPtr], [range(x, rows * K)], [range(out, rows * N)]);
      return;
    }
    const q = this.#quantize(x, rows, K, m.stride);
    this.#op(OP.matmulI8, [ptrOf(out), q.ptr, q.scales, m.ptr, m.scales, rows, N, m.stride, biasPtr],
      [[q.ptr, q.ptr + 2 * rows * m.stride], [q.scales, q.scales + 4 * rows]], [range(out, rows * N)]);
  }

  rope(x: Buffer, cos: Weight, sin: Weight, batch: Batch, heads: number, headDim: number, rotaryDim: number): void {
    const b = this.#batch(batch);
    const n = b.rows * heads * headDim;
    this.#op(OP.rope, [ptrOf(x), ptrOf(cos), ptrOf(sin), b.positions, b.rows, heads, headDim, rotaryDim],
      [range(x, n), b.tableBytes], [range(x, n)]);
  }

  kvWrite(cache: KvCache, layer: number, k: Buffer, v: Buffer, batch: Batch): void {
    const c = cache as WasmKvCache, b = this.#batch(batch);
    const { kvHeads, headDim, blockSize } = c.spec;
    const n = b.rows * kvHeads * headDim;
    const Kl = c.K + layer * c.layerBytes, Vl = c.V + layer * c.layerBytes;
    this.#op(OP.kvWrite, [Kl, Vl, ptrOf(k), ptrOf(v), b.slots, b.rows, kvHeads, headDim, blockSize],
      [range(k, n), range(v, n), b.tableBytes], [[Kl, Kl + c.layerBytes], [Vl, Vl + c.layerBytes]]);
  }

  attention(out: Buffer, q: Buffer, cache: KvCache, layer: number, batch: Batch, p: AttentionParams): void {
    const c = cache as WasmKvCache, b = this.#batch(batch);
    const n = b.rows * p.heads * p.headDim;
    const Kl = c.K + layer * c.layerBytes, Vl = c.V + layer * c.layerBytes;
    this.#op(OP.attention, [
      ptrOf(out), ptrOf(q), Kl, Vl, b.positions, b.seqOf, b.sequences, b.blockTables, b.rows, p.heads, p.kvHeads, p.headDim,
      { f: p.scale }, p.window ?? 0, { f: p.softcap ?? 0 }, c.spec.blockSize,
    ], [range(q, n), [Kl, Kl + c.layerBytes], [Vl, Vl + c.layerBytes], b.tableBytes], [range(out, n)]);
  }

  glu(out: Buffer, gate: Buffer, up: Buffer, n: number, act: Activation): void {
    this.#op(OP.glu, [ptrOf(out), ptrOf(gate), ptrOf(up), n, ACT_CODE[act]], [range(gate, n), range(up, n)], [range(out, n)]);
  }

  activation(out: Buffer, x: Buffer, n: number, act: Activation): void {
    this.#op(OP.activation, [ptrOf(out), ptrOf(x), n, ACT_CODE[act]], [range(x, n)], [range(out, n)]);
  }

  add(out: Buffer, a: Buffer, b: Buffer, n: number): void {
    this.#op(OP.add, [ptrOf(out), ptrOf(a), ptrOf(b), n], [range(a, n), range(b, n)], [range(out, n)]);
  }

  scale(out: Buffer, x: Buffer, s: number, n: number): void {
    this.#op(OP.scale, [ptrOf(out), ptrOf(x), { f: s }, n], [range(x, n)], [range(out, n)]);
  }

  softcap(out: Buffer, x: Buffer, cap: number, n: number): void {
    this.#op(OP.softcap, [ptrOf(out), ptrOf(x), { f: cap }, n], [range(x, n)], [range(out, n)]);
  }

  gather(out: Buffer, x: Buffer, batch: Batch, width: number): void {
    const b = this.#batch(batch);
    this.#op(OP.gather, [ptrOf(out), ptrOf(x), b.outputRows, b.outputs, width],
      [range(x, b.rows * width), b.tableBytes], [range(out, b.outputs * width)]);
  }

  // ---- internals ----

  /** Records an op (after checking the backend is usable); ops that overwrite quantized activations drop them. */
  #op(opcode: number, args: readonly Arg[], reads: readonly Range[], writes: readonly Range[]): void {
    this.#usable();
    const q = this.#quantized;
    if (q !== undefined && overlaps(writes, [[q.x, q.x + 4 * q.rows * q.K]])) this.#quantized = undefined;
    this.#recorder.record(opcode, args, reads, writes);
  }

  /** int8 activations of x ([rows, K]) in the shared scratch, quantized once while x is unchanged. */
  #quantize(x: Buffer, rows: number, K: number, Kp: number): { ptr: number; scales: number } {
    const hit = this.#quantized;
    if (hit !== undefined && hit.x === ptrOf(x) && hit.rows === rows && hit.K === K) return this.#quant;
    if (this.#quant.bytes < 2 * rows * Kp || this.#quant.rows < rows) {
      this.#flush();
      const bytes = 2 * Math.max(2 * rows * Kp, this.#quant.bytes), n = Math.max(rows, this.#quant.rows);
      this.#quant = { ptr: this.#arena.alloc(bytes), bytes, scales: this.#arena.alloc(4 * n), rows: n };
    }
    const q = this.#quant;
    this.#op(OP.quantize, [q.ptr, q.scales, ptrOf(x), rows, K, Kp], [range(x, rows * K)], [[q.ptr, q.ptr + 2 * rows * Kp], [q.scales, q.scales + 4 * rows]]);
    this.#quantized = { x: ptrOf(x), rows, K };
    return q;
  }

  /** Per-thread scratch for at least `positions` attention scores (and the elementwise tails). */
  #ensureScratch(positions: number): void {
    const floats = positions + 64;
    if (floats <= this.#scratchFloats) return;
    this.#flush();
    const stride = Math.ceil((4 * Math.max(floats, 2 * this.#scratchFloats)) / 64) * 64;
    const base = this.#arena.alloc(stride * this.threads);
    const i32 = this.#arena.i32, c = this.#ctrl >> 2;
    i32[c + CTRL.scratch] = base;
    i32[c + CTRL.stride] = stride;
    this.#scratchFloats = stride / 4;
  }

  /** The batch, if it is the current one (a batch is valid until the next `batch` call). */
  #batch(batch: Batch): WasmBatch {
    const b = batch as WasmBatch;
    if (b.generation !== this.#batchGeneration) throw new RangeError("this batch was replaced by a later batch() call");
    return b;
  }

  /** Runs the recorded ops on every thread and waits for all of them. */
  #flush(): void {
    const count = this.#recorder.count;
    if (count === 0) return;
    const i32 = this.#arena.i32, c = this.#ctrl >> 2;
    i32[c + CTRL.list] = this.#recorder.list;
    i32[c + CTRL.count] = count;
    i32[c + CTRL.threads] = this.threads;
    this.#recorder.reset();
    if (this.threads > 1) {
      Atomics.add(i32, c + CTRL.gen, 1);
      Atomics.notify(i32, c + CTRL.gen);
    }
    try {
      this.#run(this.#ctrl, i32[c + CTRL.list], count, 0, this.threads);
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

  /** Typed views of one weight's storage, for encodeRows. */
  #storage(format: WeightFormat, ptr: number, scales: number, N: number, stride: number, scaleCount: number) {
    const buffer = this.#arena.buffer;
    switch (format) {
      case "float32":
        return { data: new Float32Array(buffer, ptr, N * stride) };
      case "float16":
      case "bfloat16":
        return { data: new Uint16Array(buffer, ptr, N * stride) };
      case "int8":
        return { data: new Int8Array(buffer, ptr, N * stride), scales: new Float32Array(buffer, scales, scaleCount) };
    }
  }
}

function ptrOf(handle: Buffer | Weight): number {
  return (handle as WasmBuffer).ptr;
}

function range(buffer: Buffer, floats: number): Range {
  const p = ptrOf(buffer);
  return [p, p + 4 * floats];
}
