/**
 * The `gpu` backend: gpu.js kernels (and WGSL ones where gpu.js cannot express a kernel efficiently) on WebGPU,
 * or the same gpu.js kernels in gpu.js's cpu mode where there is no GPU (CI). Weights are uploaded once and stay
 * on the device; activations, the paged KV cache and the batch tables live there too. Ops are lowered to kernel
 * dispatches on a command tape; a read runs the whole tape — on WebGPU a decode step is one submission — and
 * brings back only the range asked for (the logits rows sampling needs).
 */
import {
  OPS, batchTables, checkLimits, checkRange,
  type Activation, type AttentionParams, type Batch, type BatchSequence, type BatchTables, type Buffer, type KvCache, type KvCacheSpec, type KernelCounts,
  type Kernels, type Op, type Weight, type WeightFormat, type WeightSource, type WorkLimits,
} from "@actorlm/tensor";
import { CpuDevice } from "./cpu-device.js";
import type { AdapterInfo, GpuDevice } from "./device.js";
import { ACT, type GpuJsKernelName } from "./gpujs-kernels.js";
import { kernelId } from "./kernel-registry.js";
import { CHUNK, packRows, paddedK, storageOf, storedBytes, vectorValues } from "./layout.js";
import { Tape } from "./tape.js";
import { WebGpuDevice, type AdapterChoice } from "./webgpu-device.js";
import { ATTENTION_MAX_HEAD_DIM, ELEMENTWISE_WG, EMBED_WG, MATMUL_TILE, MATVEC_ROWS, ROW_WG, type Storage } from "./wgsl-kernels.js";

/** How to start the gpu backend. */
export interface GpuOptions {
  /** "webgpu" (default): a WebGPU adapter, or an error; "cpu": the same gpu.js kernels in gpu.js's cpu mode. */
  readonly mode?: "webgpu" | "cpu";
  /**
   * Which adapters count: "hardware" refuses a software one such as lavapipe; "any" takes it. Default: the
   * environment's ACTORLM_WEBGPU_ADAPTER, else "hardware".
   */
  readonly adapter?: AdapterChoice;
  /**
   * Where both a gpu.js and a WGSL kernel exist (float32 products, attention, RMSNorm): which runs. Default: the
   * environment's ACTORLM_GPU_KERNELS, else "wgsl".
   */
  readonly prefer?: "wgsl" | "gpujs";
  /**
   * WebGPU: let native libraries' messages (Dawn's, while it looks for an adapter) through to stderr. Default false:
   * the adapter is looked for in a child process first, and what Dawn prints there is dropped.
   */
  readonly verbose?: boolean;
}

interface GpuBuffer extends Buffer {
  readonly id: number;
  readonly offset: number;
}

interface GpuWeight extends Weight {
  readonly id: number;
  /** Rows and values per row (a vector: N = 1). */
  readonly N: number;
  readonly K: number;
  readonly storage: Storage;
  readonly vector: boolean;
}

interface GpuKvCache extends KvCache {
  /** Per layer: the K and V buffers, [slots, kvHeads · headDim] each. */
  readonly k: readonly number[];
  readonly v: readonly number[];
}

interface GpuBatch extends Batch {
  readonly generation: number;
  readonly tables: BatchTables;
  /** Buffer of the float tables, and where each table starts in it. */
  readonly tab: number;
  readonly positionsAt: number;
  readonly tableOfRowAt: number;
  readonly tokensAt: number;
  readonly slotsAt: number;
  readonly blockTablesAt: number;
  readonly outputsAt: number;
}

/** Ops this backend implements (every op of the interface, plus learned positions). */
const OPS_HERE: ReadonlySet<string> = new Set<string>([...OPS, "addPositions"]);
const FORMATS_HERE: ReadonlySet<string> = new Set<WeightFormat>(["float32", "float16", "bfloat16"]);
/** Rows converted per write while uploading a weight (about 1M values). */
const VALUES_PER_UPLOAD = 1 << 20;
/** Bytes uploaded between two waits for the device (bounds what load-time writes hold in flight). */
const BYTES_BETWEEN_SYNCS = 256 * 2 ** 20;

/** gpu.js kernels (and WGSL ones on WebGPU) behind the Kernels interface. */
export class GpuKernels implements Kernels {
  readonly name = "gpu" as const;
  readonly threads = 1;
  readonly simd = "none" as const;
  readonly memoryLimit = Infinity;
  readonly #device: GpuDevice;
  readonly #wgsl: boolean;
  readonly #tape = new Tape();
  readonly #ids = new Map<string, number>();
  #nextId = 1;
  /** Bytes of device buffers alive (retired ones included until they are destroyed), and the most so far. */
  #bytes = 0;
  #peak = 0;
  /** Dispatches recorded since the backend started (see counts). */
  #dispatched = 0;
  /** The longest buffer made (every op's output fits in it), and the KV pool the batch tables index. */
  #longestBuffer = 0;
  #kv = { blocks: 0, blockSize: 1 };
  #uploadedSinceSync = 0;
  /** Internal buffers grown on demand, and ids to free once the tape that may still use them has run. */
  readonly #scratch = new Map<string, { id: number; elements: number }>();
  #retired: { id: number; bytes: number }[] = [];
  #tab = { id: 0, elements: 0 };
  #generation = 0;
  #disposed = false;

  private constructor(device: GpuDevice, prefer: "wgsl" | "gpujs") {
    this.#device = device;
    this.#wgsl = device.mode === "webgpu" && prefer === "wgsl";
  }

  /** Starts the backend: a WebGPU device on its own thread (default), or gpu.js's cpu mode. */
  static async create(options: GpuOptions = {}): Promise<GpuKernels> {
    const mode = options.mode ?? "webgpu";
    if (mode !== "webgpu" && mode !== "cpu") throw new RangeError(`gpu mode must be "webgpu" or "cpu", got ${JSON.stringify(mode)}`);
    const prefer = options.prefer ?? fromEnv("ACTORLM_GPU_KERNELS", ["wgsl", "gpujs"]) ?? "wgsl";
    if (prefer !== "wgsl" && prefer !== "gpujs") throw new RangeError(`prefer must be "wgsl" or "gpujs", got ${JSON.stringify(prefer)}`);
    const adapter = options.adapter ?? fromEnv("ACTORLM_WEBGPU_ADAPTER", ["hardware", "any"]) ?? "hardware";
    if (adapter !== "hardware" && adapter !== "any") throw new RangeError(`adapter must be "hardware" or "any", got ${JSON.stringify(adapter)}`);
    const device = mode === "cpu" ? await CpuDevice.create() : await WebGpuDevice.create(adapter, options.verbose ?? false);
    return new GpuKernels(device, prefer);
  }

  /**
   * The device's memory bandwidth in GB/s: the fastest of `repeats` timings of `passes` kernels each reading a
   * `bytes`-byte buffer once, in one submission (what bounds a decode step, which reads every weight once).
   */
  static async measureBandwidth(options: Omit<GpuOptions, "mode"> = {}, bytes = 2 ** 30, repeats = 5, passes = 20): Promise<number> {
    const k = await GpuKernels.create({ ...options, mode: "webgpu" });
    try {
      const n4 = Math.floor(Math.min(bytes, k.#device.maxBufferBytes / 2) / 16), groups = 4096;
      const data = k.buffer(4 * n4), out = k.buffer(groups);
      let best = Infinity;
      for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        for (let p = 0; p < passes; p++) k.#wgslDispatch("bandwidth", [groups, 1, 1], [buf(data).id, buf(out).id], [n4]);
        k.read(out, 1);
        best = Math.min(best, (performance.now() - t0) / passes);
      }
      return (16 * n4) / (best / 1000) / 1e9;
    } finally {
      await k.dispose();
    }
  }

  /** Where the kernels run: gpu.js's cpu mode, or WebGPU on an adapter. */
  get mode(): "cpu" | "webgpu" {
    return this.#device.mode;
  }

  /** The WebGPU adapter in use (undefined in the cpu mode). */
  get adapter(): AdapterInfo | undefined {
    return this.#device.adapter;
  }

  /** Every op of the interface (and learned positions), with float32, float16 or bfloat16 weights. */
  supports(op: Op, format?: WeightFormat): boolean {
    return OPS_HERE.has(op) && (format === undefined || FORMATS_HERE.has(format));
  }

  // ---- memory ----

  /** Uploads a matrix a chunk of rows at a time in the device's layout (or a float32 vector); it stays resident. */
  weight(shape: readonly number[], format: WeightFormat, values: Float32Array | WeightSource): Weight {
    this.#usable();
    if (shape.length === 1) {
      const n = shape[0], data = vectorValues(values, n);
      const id = this.#allocate(4 * n, `vector [${n}]`);
      this.#upload(id, 0, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      const made: GpuWeight = { shape: [...shape], format: "float32", bytes: 4 * n, id, N: 1, K: n, storage: "f32", vector: true };
      return made;
    }
    if (shape.length !== 2) throw new RangeError(`a weight is a matrix [N, K] or a vector [n], got shape [${shape.join(", ")}]`);
    const [N, K] = shape;
    const storage = storageOf(format, this.#device.mode);
    const bytes = storedBytes(storage, N, K), rowBytes = bytes / N;
    const id = this.#allocate(bytes, `matrix [${N}, ${K}] in ${format}`);
    const rows = Math.max(1, Math.floor(VALUES_PER_UPLOAD / paddedK(K)));
    for (let r = 0; r < N; r += rows) {
      const to = Math.min(N, r + rows);
      this.#upload(id, r * rowBytes, packRows(format, storage, values, r, to, K));
    }
    const made: GpuWeight = { shape: [...shape], format, bytes, id, N, K, storage, vector: false };
    return made;
  }

  buffer(length: number): Buffer {
    this.#usable();
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`buffer length must be an integer ≥ 0, got ${length}`);
    const made: GpuBuffer = { length, id: this.#allocate(4 * Math.max(1, length), `buffer of ${length} floats`), offset: 0 };
    this.#longestBuffer = Math.max(this.#longestBuffer, length);
    return made;
  }

  view(buffer: Buffer, offset: number, length: number): Buffer {
    checkRange(buffer, offset, length);
    const b = buf(buffer);
    const made: GpuBuffer = { length, id: b.id, offset: b.offset + offset };
    return made;
  }

  /** One K and one V buffer per layer, [slots, kvHeads · headDim] each (slot = block · blockSize + offset). */
  kvCache(spec: KvCacheSpec): KvCache {
    this.#usable();
    const floats = spec.blocks * spec.blockSize * spec.kvHeads * spec.headDim;
    const k: number[] = [], v: number[] = [];
    for (let l = 0; l < spec.layers; l++) {
      k.push(this.#allocate(4 * floats, `KV cache layer ${l} keys`));
      v.push(this.#allocate(4 * floats, `KV cache layer ${l} values`));
    }
    const made: GpuKvCache = { spec: { ...spec }, bytes: 8 * floats * spec.layers, k, v };
    this.#kv = { blocks: Math.max(this.#kv.blocks, spec.blocks), blockSize: spec.blockSize };
    return made;
  }

  /** Uploads the batch's tables (positions, block tables, tokens, output rows) in order with the recorded ops. */
  batch(cache: KvCache, sequences: readonly BatchSequence[]): Batch {
    this.#usable();
    const t = batchTables(sequences, cache.spec.blockSize, cache.spec.blocks);
    const R = t.rows, T = t.blockTables.length, O = t.outputRows.length;
    const positionsAt = 0, tableOfRowAt = R, tokensAt = 2 * R, slotsAt = 3 * R, blockTablesAt = 4 * R, outputsAt = 4 * R + T;
    const packed = new Float32Array(Math.max(1, outputsAt + O));
    for (let r = 0; r < R; r++) {
      packed[positionsAt + r] = t.positions[r];
      packed[tableOfRowAt + r] = t.sequences[4 * t.seqOf[r] + 2];
      packed[tokensAt + r] = t.tokens[r];
      packed[slotsAt + r] = t.slots[r];
    }
    packed.set(t.blockTables, blockTablesAt);
    packed.set(t.outputRows, outputsAt);
    this.#tabRoom(packed.length);
    this.#tape.upload(this.#tab.id, 0, packed);
    const made: GpuBatch = {
      rows: R, outputs: O, generation: ++this.#generation, tables: t, tab: this.#tab.id, positionsAt, tableOfRowAt, tokensAt, slotsAt, blockTablesAt, outputsAt,
    };
    return made;
  }

  write(buffer: Buffer, data: Float32Array, offset = 0): void {
    this.#usable();
    checkRange(buffer, offset, data.length);
    const b = buf(buffer);
    this.#tape.upload(b.id, b.offset + offset, data);
  }

  /** Runs every recorded op (one submission on WebGPU), then reads `length` elements back. */
  read(buffer: Buffer, length = buffer.length): Float32Array {
    this.#usable();
    checkRange(buffer, 0, length);
    const b = buf(buffer);
    const out = this.#device.run(this.#tape, { buffer: b.id, offset: b.offset, length }) ?? new Float32Array(0);
    this.#freeRetired();
    return out;
  }

  /**
   * Sizes the internal buffers for `limits`: the batch tables for `rows` sequences, the norm statistics for `rows` rows,
   * and the rotary and aliasing scratch for the longest buffer made so far (no op writes more values than its output).
   */
  reserve(limits: WorkLimits): void {
    this.#usable();
    const { rows, positions } = checkLimits(limits);
    const blocks = Math.min(this.#kv.blocks, Math.ceil(positions / this.#kv.blockSize));
    this.#tabRoom(5 * rows + rows * blocks);
    this.#scratchBuffer("stats", 2 * rows);
    if (!this.#wgsl) this.#scratchBuffer("rope", this.#longestBuffer);
    this.#scratchBuffer("alias", this.#longestBuffer);
    this.#scratchBuffer("product", this.#longestBuffer);      // a product added into its output (matmul's accumulate)
  }

  /** Bytes of device buffers alive (a grown scratch buffer's old one until the next run destroys it). */
  memoryBytes(): number {
    return this.#bytes;
  }

  memoryHighWater(): number {
    return this.#peak;
  }

  /** Dispatches recorded so far; no barriers counted (WebGPU orders a step's dispatches itself). */
  counts(): KernelCounts {
    return { ops: this.#dispatched, barriers: 0 };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#device.dispose();
  }

  // ---- ops ----

  embed(out: Buffer, table: Weight, batch: Batch): void {
    const w = matrix(table), b = this.#batch(batch), o = buf(out), D = w.K;
    need(out, b.rows * D, "embed output");
    if (w.storage === "f32") {
      this.#gpujs("embed", [D, b.rows, 1], o, [w.id, b.tab], [paddedK(D), b.tokensAt]);
    } else {
      if (this.#device.mode !== "webgpu") throw new Error("gpu backend: 16-bit storage needs WebGPU");
      this.#wgslDispatch(`embed_${w.storage}`, [Math.ceil(D / EMBED_WG), b.rows, 1], [w.id, b.tab, o.id], [D, paddedK(D) / 2, b.tokensAt, o.offset]);
    }
  }

  rmsnorm(out: Buffer, x: Buffer, w: Weight, rows: number, eps: number): void {
    const v = vector(w), D = v.K, o = buf(out), xb = buf(x);
    need(x, rows * D, "rmsnorm input");
    need(out, rows * D, "rmsnorm output");
    if (rows === 0) return;
    this.#into(o, rows * D, [xb.id], (target) => {
      if (this.#wgsl) {
        this.#wgslDispatch("rmsnorm", [rows, 1, 1], [xb.id, v.id, target.id], [xb.offset, target.offset, D], [eps]);
        return;
      }
      const st = this.#scratchBuffer("stats", rows);
      this.#gpujs("rmsStats", [rows, 1, 1], { id: st, offset: 0 }, [xb.id], [xb.offset, D], [eps]);
      this.#gpujs("rmsApply", [D, rows, 1], target, [xb.id, st, v.id], [xb.offset, D]);
    });
  }

  layernorm(out: Buffer, x: Buffer, w: Weight, b: Weight, rows: number, eps: number): void {
    const v = vector(w), bias = vector(b), D = v.K, o = buf(out), xb = buf(x);
    need(x, rows * D, "layernorm input");
    need(out, rows * D, "layernorm output");
    if (rows === 0) return;
    const st = this.#scratchBuffer("stats", 2 * rows);
    this.#gpujs("layerStats", [2, rows, 1], { id: st, offset: 0 }, [xb.id], [xb.offset, D], [eps]);
    this.#into(o, rows * D, [xb.id], (target) => this.#gpujs("layerApply", [D, rows, 1], target, [xb.id, st, v.id, bias.id], [xb.offset, D]));
  }

  /** With `accumulate`: the product into a scratch buffer, then added into `out` (composed from the two kernels). */
  matmul(out: Buffer, x: Buffer, w: Weight, rows: number, bias?: Weight, accumulate = false): void {
    const m = matrix(w), xb = buf(x), { N, K } = m;
    need(x, rows * K, "matmul input");
    need(out, rows * N, "matmul output");
    if (rows === 0) return;
    if (accumulate) {
      const product: GpuBuffer = { length: rows * N, id: this.#scratchBuffer("product", rows * N), offset: 0 };
      this.matmul(product, x, w, rows, bias);
      this.add(out, out, product, rows * N);
      return;
    }
    const o = buf(out);
    const b = bias === undefined ? undefined : vector(bias);
    if (b !== undefined && b.K !== N) throw new RangeError(`matmul bias has ${b.K} values, the output rows ${N}`);
    const biasId = b?.id ?? this.#scratchBuffer("zero", 1), hasBias = b === undefined ? 0 : 1;
    this.#into(o, rows * N, [xb.id, biasId], (target) => {
      if (m.storage !== "f32" || this.#wgsl) {
        const chunks = paddedK(K) / CHUNK;
        if (rows <= MATVEC_ROWS) {
          const gx = Math.min(N, 65535);
          this.#wgslDispatch(`matvec_${m.storage}`, [gx, Math.ceil(N / gx), 1], [xb.id, m.id, biasId, target.id], [xb.offset, target.offset, rows, N, K, chunks, hasBias, gx]);
        } else {
          this.#wgslDispatch(`matmul_${m.storage}`, [Math.ceil(N / MATMUL_TILE), Math.ceil(rows / MATMUL_TILE), 1], [xb.id, m.id, biasId, target.id], [xb.offset, target.offset, rows, N, K, chunks, hasBias]);
        }
        return;
      }
      this.#gpujs("matmul", [N, rows, 1], target, [xb.id, m.id, biasId], [xb.offset, paddedK(K), K, hasBias]);
    });
  }

  /** Composed: the two products, then glu. */
  gatedMatmul(out: Buffer, x: Buffer, gate: Weight, up: Weight, rows: number, act: Activation, scratch: Buffer): void {
    this.matmul(out, x, gate, rows);
    this.matmul(scratch, x, up, rows);
    this.glu(out, out, scratch, rows * matrix(gate).N, act);
  }

  /**
   * In place: a WGSL kernel rotates each pair where it is; the gpu.js kernel (one value per thread, to a binding of
   * its own) rotates into a scratch buffer, copied back.
   */
  rope(x: Buffer, cos: Weight, sin: Weight, batch: Batch, heads: number, headDim: number, rotaryDim: number): void {
    const b = this.#batch(batch), xb = buf(x), n = b.rows * heads * headDim;
    need(x, n, "rope input");
    if (rotaryDim % 2 !== 0 || rotaryDim > headDim) throw new RangeError(`rotaryDim ${rotaryDim} must be even and at most headDim ${headDim}`);
    if (n === 0) return;
    if (this.#wgsl) {
      const half = rotaryDim / 2;
      this.#wgslDispatch("rope_inplace", [Math.ceil(half / ROW_WG), heads, b.rows], [vector(cos).id, vector(sin).id, b.tab, xb.id], [xb.offset, b.positionsAt, heads, headDim, half]);
      return;
    }
    const tmp = this.#scratchBuffer("rope", n);
    this.#gpujs("rope", [headDim, heads, b.rows], { id: tmp, offset: 0 }, [xb.id, vector(cos).id, vector(sin).id, b.tab], [xb.offset, b.positionsAt, heads, headDim, rotaryDim / 2]);
    this.#gpujs("copy", [n, 1, 1], xb, [tmp], [0]);
  }

  /**
   * Stores the rows' keys and values at their slots of the layer's K and V buffers: a WGSL kernel (one dispatch for
   * both), or — gpu.js cannot scatter — a copy of each run of rows with consecutive slots.
   */
  kvWrite(cache: KvCache, layer: number, k: Buffer, v: Buffer, batch: Batch): void {
    const c = kv(cache), b = this.#batch(batch), kb = buf(k), vb = buf(v), t = b.tables;
    const dim = c.spec.kvHeads * c.spec.headDim;
    layerOf(c, layer);
    need(k, b.rows * dim, "kvWrite keys");
    need(v, b.rows * dim, "kvWrite values");
    if (this.#wgsl) {
      this.#wgslDispatch("kv_write", [Math.ceil(dim / ROW_WG), b.rows, 1], [kb.id, vb.id, b.tab, c.k[layer], c.v[layer]], [kb.offset, vb.offset, b.slotsAt, dim]);
      return;
    }
    for (let r = 0; r < b.rows;) {
      let n = 1;
      while (r + n < b.rows && t.slots[r + n] === t.slots[r] + n) n++;
      this.#tape.copy(kb.id, kb.offset + r * dim, c.k[layer], t.slots[r] * dim, n * dim);
      this.#tape.copy(vb.id, vb.offset + r * dim, c.v[layer], t.slots[r] * dim, n * dim);
      r += n;
    }
  }

  attention(out: Buffer, q: Buffer, cache: KvCache, layer: number, batch: Batch, p: AttentionParams): void {
    const c = kv(cache), b = this.#batch(batch), o = buf(out), qb = buf(q);
    layerOf(c, layer);
    if (p.kvHeads !== c.spec.kvHeads || p.headDim !== c.spec.headDim) throw new RangeError(`attention over a cache of ${c.spec.kvHeads} KV heads × ${c.spec.headDim}, asked for ${p.kvHeads} × ${p.headDim}`);
    if (p.heads % p.kvHeads !== 0) throw new RangeError(`heads ${p.heads} is not a multiple of kvHeads ${p.kvHeads}`);
    need(q, b.rows * p.heads * p.headDim, "attention queries");
    need(out, b.rows * p.heads * p.headDim, "attention output");
    if (b.rows === 0) return;
    const window = p.window ?? 0, softcap = p.softcap ?? 0, bs = c.spec.blockSize;
    this.#into(o, b.rows * p.heads * p.headDim, [qb.id], (target) => {
      if (this.#wgsl && p.headDim <= ATTENTION_MAX_HEAD_DIM) {
        this.#wgslDispatch("attention", [p.heads, b.rows, 1], [qb.id, c.k[layer], c.v[layer], b.tab, target.id],
          [qb.offset, target.offset, b.positionsAt, b.tableOfRowAt, b.blockTablesAt, p.heads, p.kvHeads, p.headDim, bs, window], [p.scale, softcap]);
        return;
      }
      this.#gpujs("attention", [p.headDim, p.heads, b.rows], target, [qb.id, c.k[layer], c.v[layer], b.tab],
        [qb.offset, b.positionsAt, b.tableOfRowAt, b.blockTablesAt, p.heads, p.kvHeads, p.headDim, bs, window], [p.scale, softcap]);
    });
  }

  glu(out: Buffer, gate: Buffer, up: Buffer, n: number, act: Activation): void {
    const g = buf(gate), u = buf(up);
    need(gate, n, "glu gate");
    need(up, n, "glu up");
    need(out, n, "glu output");
    const o = buf(out);
    if (this.#wgsl && same(o, g) && u.id !== o.id) {
      this.#elementwise("glu_inplace", n, [u.id, o.id], [u.offset, o.offset], [actCode(act)]);
      return;
    }
    this.#into(o, n, [g.id, u.id], (target) => this.#gpujs("glu", [n, 1, 1], target, [g.id, u.id], [g.offset, u.offset, actCode(act)]));
  }

  activation(out: Buffer, x: Buffer, n: number, act: Activation): void {
    const xb = buf(x);
    need(x, n, "activation input");
    need(out, n, "activation output");
    this.#into(buf(out), n, [xb.id], (target) => this.#gpujs("activation", [n, 1, 1], target, [xb.id], [xb.offset, actCode(act)]));
  }

  add(out: Buffer, a: Buffer, b: Buffer, n: number): void {
    const ab = buf(a), bb = buf(b);
    need(a, n, "add input");
    need(b, n, "add input");
    need(out, n, "add output");
    const o = buf(out);
    if (this.#wgsl && (same(o, ab) || same(o, bb)) && !(ab.id === o.id && bb.id === o.id)) {
      const other = same(o, ab) ? bb : ab;
      this.#elementwise("add_inplace", n, [other.id, o.id], [other.offset, o.offset]);
      return;
    }
    this.#into(o, n, [ab.id, bb.id], (target) => this.#gpujs("add", [n, 1, 1], target, [ab.id, bb.id], [ab.offset, bb.offset]));
  }

  scale(out: Buffer, x: Buffer, s: number, n: number): void {
    const xb = buf(x);
    need(x, n, "scale input");
    need(out, n, "scale output");
    this.#into(buf(out), n, [xb.id], (target) => this.#gpujs("scale", [n, 1, 1], target, [xb.id], [xb.offset], [s]));
  }

  softcap(out: Buffer, x: Buffer, cap: number, n: number): void {
    const xb = buf(x);
    need(x, n, "softcap input");
    need(out, n, "softcap output");
    this.#into(buf(out), n, [xb.id], (target) => this.#gpujs("softcap", [n, 1, 1], target, [xb.id], [xb.offset], [cap]));
  }

  gather(out: Buffer, x: Buffer, batch: Batch, width: number): void {
    const b = this.#batch(batch), xb = buf(x);
    need(x, b.rows * width, "gather input");
    need(out, b.outputs * width, "gather output");
    this.#into(buf(out), b.outputs * width, [xb.id], (target) => this.#gpujs("gather", [width, b.outputs, 1], target, [xb.id, b.tab], [xb.offset, width, b.outputsAt]));
  }

  /** Learned position embeddings, in place: x[r] += table[position of row r] (table: float32 [positions · width]). */
  addPositions(x: Buffer, table: Weight, batch: Batch, width: number): void {
    const b = this.#batch(batch), xb = buf(x), t = vector(table);
    need(x, b.rows * width, "addPositions input");
    const positions = Math.floor(t.K / width);
    for (let r = 0; r < b.rows; r++) {
      if (b.tables.positions[r] >= positions) throw new RangeError(`row ${r} is at position ${b.tables.positions[r]}, past the table's ${positions} positions`);
    }
    this.#into(xb, b.rows * width, [xb.id], (target) => this.#gpujs("addPositions", [width, b.rows, 1], target, [xb.id, t.id, b.tab], [xb.offset, width, b.positionsAt]));
  }

  // ---- internals ----

  /**
   * Runs `emit` with the target its results should go to: `out`, or — when `out` shares a buffer with an input — a
   * scratch buffer copied into `out` afterwards (WebGPU refuses a dispatch that binds one buffer writable and
   * again, and a gpu.js kernel writes to a binding of its own).
   */
  #into(out: { id: number; offset: number }, n: number, inputs: readonly number[], emit: (target: { id: number; offset: number }) => void): void {
    if (!inputs.includes(out.id)) {
      emit(out);
      return;
    }
    const tmp = { id: this.#scratchBuffer("alias", n), offset: 0 };
    emit(tmp);
    this.#gpujs("copy", [n, 1, 1], out, [tmp.id], [0]);
  }

  /** Records a gpu.js kernel over a grid of threads, its values going to `out` from its offset. */
  #gpujs(name: GpuJsKernelName, grid: [number, number, number], out: { id: number; offset: number }, arrays: number[], ints: number[], floats: number[] = []): void {
    if (grid[0] * grid[1] * grid[2] === 0) return;
    this.#tape.dispatch(this.#kernel("gpujs", name), grid, out.id, out.offset, arrays, ints, floats);
    this.#dispatched++;
  }

  /** Records an elementwise WGSL kernel over n values (ints: the offsets, then n and the folded grid's width, then `extra`). */
  #elementwise(name: string, n: number, arrays: number[], offsets: number[], extra: number[] = []): void {
    const groups = Math.ceil(n / ELEMENTWISE_WG), gx = Math.min(groups, 65535);
    this.#wgslDispatch(name, [gx, Math.ceil(groups / gx), 1], arrays, [...offsets, n, gx, ...extra]);
  }

  /** Records a WGSL kernel over a grid of workgroups. */
  #wgslDispatch(name: string, workgroups: [number, number, number], arrays: number[], ints: number[], floats: number[] = []): void {
    if (this.#device.mode !== "webgpu") throw new Error(`gpu backend: WGSL kernel ${name} needs WebGPU`);
    if (workgroups[0] * workgroups[1] * workgroups[2] === 0) return;
    this.#tape.dispatch(this.#kernel("wgsl", name), workgroups, -1, 0, arrays, ints, floats);
    this.#dispatched++;
  }

  #kernel(kind: "gpujs" | "wgsl", name: string): number {
    const key = `${kind}:${name}`;
    let id = this.#ids.get(key);
    if (id === undefined) this.#ids.set(key, (id = kernelId(kind, name)));
    return id;
  }

  /** A new device buffer of `bytes` (refused with a RangeError past what the device binds). */
  #allocate(bytes: number, what: string): number {
    const padded = Math.max(16, Math.ceil(bytes / 16) * 16);
    if (padded > this.#device.maxBufferBytes) {
      throw new RangeError(`${what} needs ${bytes} bytes; this device binds at most ${this.#device.maxBufferBytes} bytes per buffer`);
    }
    const id = this.#nextId++;
    this.#device.createBuffer(id, padded);
    this.#bytes += padded;
    this.#peak = Math.max(this.#peak, this.#bytes);
    return id;
  }

  /** Writes weight bytes now, waiting for the device every BYTES_BETWEEN_SYNCS so uploads never pile up. */
  #upload(id: number, byteOffset: number, data: Uint8Array): void {
    this.#device.writeBuffer(id, byteOffset, data);
    this.#uploadedSinceSync += data.byteLength;
    if (this.#uploadedSinceSync >= BYTES_BETWEEN_SYNCS) {
      this.#uploadedSinceSync = 0;
      this.#device.run(this.#tape);
      this.#freeRetired();
    }
  }

  /** An internal buffer of at least `elements` floats (grown, never shrunk; a grown one's old buffer freed after the next run). */
  #scratchBuffer(name: string, elements: number): number {
    const s = this.#scratch.get(name);
    if (s !== undefined && s.elements >= elements) return s.id;
    if (s !== undefined) this.#retire(s.id, 4 * s.elements);
    const grown = Math.max(elements, 2 * (s?.elements ?? 0), 256);
    const id = this.#allocate(4 * grown, `scratch (${name})`);
    this.#scratch.set(name, { id, elements: grown });
    return id;
  }

  /** The batch tables' buffer, holding at least `elements` floats (grown like a scratch buffer). */
  #tabRoom(elements: number): void {
    if (elements <= this.#tab.elements) return;
    if (this.#tab.id !== 0) this.#retire(this.#tab.id, 4 * this.#tab.elements);
    const grown = Math.max(1024, elements, 2 * this.#tab.elements);
    this.#tab = { id: this.#allocate(4 * grown, "batch tables"), elements: grown };
  }

  /** Destroys buffer `id` once the recorded tape that may still use it has run. */
  #retire(id: number, bytes: number): void {
    this.#retired.push({ id, bytes: Math.max(16, Math.ceil(bytes / 16) * 16) });
  }

  #freeRetired(): void {
    for (const { id, bytes } of this.#retired) {
      this.#device.destroyBuffer(id);
      this.#bytes -= bytes;
    }
    this.#retired = [];
  }

  /** The batch, refused when a later batch replaced its tables. */
  #batch(batch: Batch): GpuBatch {
    const b = batch as GpuBatch;
    if (b.generation !== this.#generation) throw new RangeError("this batch's tables were replaced by a later batch() call");
    return b;
  }

  #usable(): void {
    if (this.#disposed) throw new Error("the gpu backend was disposed");
  }
}

/** The value of environment variable `name` when set (RangeError naming it unless it is one of `allowed`). */
function fromEnv<T extends string>(name: string, allowed: readonly T[]): T | undefined {
  const value = process.env[name];
  if (value === undefined || value === "") return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new RangeError(`${name} must be ${allowed.join(" or ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** True when two handles start at the same element of the same buffer. */
function same(a: { id: number; offset: number }, b: { id: number; offset: number }): boolean {
  return a.id === b.id && a.offset === b.offset;
}

function buf(b: Buffer): GpuBuffer {
  return b as GpuBuffer;
}

function matrix(w: Weight): GpuWeight {
  const m = w as GpuWeight;
  if (m.vector) throw new RangeError("a vector weight was given where a matrix is expected");
  return m;
}

function vector(w: Weight): GpuWeight {
  const v = w as GpuWeight;
  if (!v.vector) throw new RangeError("a matrix weight was given where a vector is expected");
  return v;
}

function kv(cache: KvCache): GpuKvCache {
  return cache as GpuKvCache;
}

function layerOf(c: GpuKvCache, layer: number): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= c.spec.layers) throw new RangeError(`layer ${layer} outside the cache's ${c.spec.layers} layers`);
}

/** RangeError unless `b` holds at least `n` elements. */
function need(b: Buffer, n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > b.length) throw new RangeError(`${what}: ${n} elements needed, the buffer holds ${b.length}`);
}

function actCode(act: Activation): number {
  const code = ACT[act];
  if (code === undefined) throw new RangeError(`unknown activation ${JSON.stringify(act)}`);
  return code;
}
