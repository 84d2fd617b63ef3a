/**
 * The kernel interface every compute backend implements: `js` (the plain-JS reference), `wasm` (SIMD
 * WebAssembly on threads sharing one memory) and later `gpu`.
 *
 * The backend owns the memory, as in ggml: weights (handed over once, converted to a storage format),
 * activation buffers (allocated once per model) and the paged KV cache live in the backend's memory, and
 * model code holds opaque handles. Ops are recorded in call order and may run later (a backend may batch
 * them into one dispatch); `read` returns data to JS and runs everything recorded before it.
 *
 * Shapes are row-major. A "row" of activations is one token; `rows` arguments count them.
 */
import type { WeightFormat } from "./formats.js";

/** Which implementation: the plain-JS reference, SIMD WebAssembly, or the GPU. */
export type KernelsName = "js" | "wasm" | "gpu";

/** Float32 activations in a backend's memory (opaque: only the backend that made it can use it). */
export interface Buffer {
  /** Number of float32 elements. */
  readonly length: number;
}

/**
 * Where a weight's values come from, read a chunk of rows at a time straight into backend memory (the checkpoint
 * is never held whole): float32 values, or float16 / bfloat16 bit patterns.
 */
export interface WeightSource {
  readonly type: "F32" | "F16" | "BF16";
  /** Writes rows from .. to (exclusive), K values each, into `into` (whose length is exactly that). */
  read(from: number, to: number, into: Float32Array | Uint16Array): void;
}

/**
 * A matrix that is ternary already (a BitNet checkpoint packed offline): its values q ∈ {-1, 0, 1}, read a chunk of
 * rows at a time, and its one scale (w = q · scale). Stored only as `ternary`.
 */
export interface TernarySource {
  readonly type: "ternary";
  /** The matrix's scale, finite and positive. */
  readonly scale: number;
  /** Writes rows from .. to (exclusive), K values each, into `into` (whose length is exactly that). */
  read(from: number, to: number, into: Int8Array): void;
}

/** A weight in a backend's memory: a matrix [N, K] in a storage format, or a float32 vector [n]. */
export interface Weight {
  readonly shape: readonly number[];
  readonly format: WeightFormat;
  /** Bytes it occupies in backend memory. */
  readonly bytes: number;
}

/** Shape of a paged KV cache: `blocks` blocks of `blockSize` positions, for every layer and KV head. */
export interface KvCacheSpec {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Positions per block. */
  readonly blockSize: number;
  /** Blocks in the pool (the token budget is blocks × blockSize). */
  readonly blocks: number;
}

/** A paged KV cache pool in backend memory. Which sequence owns which block is the caller's business. */
export interface KvCache {
  readonly spec: KvCacheSpec;
  /** Bytes it occupies in backend memory. */
  readonly bytes: number;
}

/** Which logits a sequence of a batch wants back: its last row's, every row's, or none. */
export type LogitRows = "last" | "all" | "none";

/** One sequence's part of a batch: `tokens.length` new tokens at positions start .. start + n - 1. */
export interface BatchSequence {
  /** Token ids of the new rows. */
  readonly tokens: ArrayLike<number>;
  /** Position of the first new token (the number of positions already cached). */
  readonly start: number;
  /** The sequence's block table: block ids in position order, covering at least start + n positions. */
  readonly blocks: ArrayLike<number>;
  /** Which rows' logits come back (default "last"). */
  readonly logits?: LogitRows;
}

/** A batch uploaded to the backend: rows of several sequences, each sequence's rows consecutive. */
export interface Batch {
  /** Total new rows (tokens) in the batch. */
  readonly rows: number;
  /** Rows whose logits come back, in order (see {@link Kernels.gather}). */
  readonly outputs: number;
}

/** Activation functions of the elementwise ops. */
export type Activation = "silu" | "gelu_tanh" | "relu2";

/** Per-call settings of {@link Kernels.attention}. */
export interface AttentionParams {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads; query head h reads KV head ⌊h / (heads / kvHeads)⌋. */
  readonly kvHeads: number;
  readonly headDim: number;
  /** Multiplier of q·k (usually 1/√headDim). */
  readonly scale: number;
  /** Sliding window: a token attends to the last `window` positions (itself included); 0 = unlimited. */
  readonly window?: number;
  /** Soft-capping of the scores, cap · tanh(s / cap); 0 = none. */
  readonly softcap?: number;
}

/**
 * The most work one forward pass asks of the ops (from the model's limits): what a backend sizes its working memory
 * for, once, so that memory does not grow with the history of batch shapes.
 */
export interface WorkLimits {
  /** Most rows (tokens, every sequence together) of one batch. */
  readonly rows: number;
  /** Most positions one row attends over (its own included). */
  readonly positions: number;
  /** Most query heads sharing one KV head (heads / kvHeads). */
  readonly queriesPerKvHead: number;
}

/** What a backend has run since it started (see {@link Kernels.counts}); a step's figures are the difference of two. */
export interface KernelCounts {
  /**
   * Ops run: in the wasm backend the records of its command list (the activation preparations its products add
   * included), in the gpu backend its dispatches, in the js backend the op calls.
   */
  readonly ops: number;
  /**
   * Barriers: the points where the threads running the ops wait for every earlier op to finish (the wasm backend's
   * barrier flags). 0 where ops run one after another on one thread (js) or the device orders them (gpu).
   */
  readonly barriers: number;
}

/** The kernel operations (what `supports` answers about). */
export type Op =
  | "embed" | "rmsnorm" | "layernorm" | "matmul" | "rope" | "kvWrite" | "attention"
  | "glu" | "activation" | "add" | "scale" | "softcap" | "gather" | "addPositions" | "gatedMatmul";

/** Every op, for backends and tests that go through them all. */
export const OPS: readonly Op[] = [
  "embed", "rmsnorm", "layernorm", "matmul", "rope", "kvWrite", "attention", "glu", "activation", "add", "scale", "softcap", "gather",
  "addPositions", "gatedMatmul",
];

/** A compute backend: memory it owns, and ops over handles to it. */
export interface Kernels {
  readonly name: KernelsName;
  /** Threads the kernels run on. */
  readonly threads: number;
  /** Which SIMD build runs ("relaxed" or "plain"), or "none" for a backend without one. */
  readonly simd: "relaxed" | "plain" | "none";
  /** Most bytes of memory the backend can hold (4 GiB for wasm32; Infinity when only the machine limits it). */
  readonly memoryLimit: number;
  /** True when this backend implements `op` (with weights in `format`, for ops that read weights). */
  supports(op: Op, format?: WeightFormat): boolean;

  // ---- memory ----
  /**
   * Stores a matrix [N, K] (or a vector, `shape` of length 1, always float32) as `format`, from all its values or
   * from a source read a chunk of rows at a time. Float values stored as `ternary` are ternarized with BitNet
   * b1.58's per-matrix scale (mean |w|, two passes over the source); a {@link TernarySource} is stored as it is,
   * and only as `ternary` (RangeError otherwise).
   */
  weight(shape: readonly number[], format: WeightFormat, values: Float32Array | WeightSource | TernarySource): Weight;
  /** A zeroed float32 buffer of `length` elements. */
  buffer(length: number): Buffer;
  /** A view of `length` elements of `buffer` from element `offset` (shares its memory). */
  view(buffer: Buffer, offset: number, length: number): Buffer;
  /** A zeroed paged KV cache pool. */
  kvCache(spec: KvCacheSpec): KvCache;
  /**
   * Uploads one step's batch for `cache` (token ids, positions, KV slots, output rows); valid until the next
   * `batch` call. Throws RangeError when a sequence's blocks do not cover its positions.
   */
  batch(cache: KvCache, sequences: readonly BatchSequence[]): Batch;
  /** Copies `data` into `buffer` from element `offset`. */
  write(buffer: Buffer, data: Float32Array, offset?: number): void;
  /** Runs every recorded op, then copies `length` elements of `buffer` into a new array. */
  read(buffer: Buffer, length?: number): Float32Array;
  /**
   * Sizes the ops' working memory (prepared activations, per-thread scratch, batch tables) for `limits` over the
   * weights and KV caches made so far, so that ops within them allocate nothing. Ops past them still run: their
   * working memory grows, and what it outgrew is reused.
   */
  reserve(limits: WorkLimits): void;
  /** Bytes of backend memory in use (weights, buffers, KV cache, working memory). */
  memoryBytes(): number;
  /** The high-water mark: the most bytes of backend memory held at once so far. */
  memoryHighWater(): number;
  /** Ops and barriers run since the backend started. */
  counts(): KernelCounts;
  /** Frees the memory and stops the backend's threads. */
  dispose(): Promise<void>;

  // ---- ops (recorded in order; `out` may alias an input only where stated) ----
  /** out[R, D] = table[token of row r] for the batch's R rows (table: [V, D], any format). */
  embed(out: Buffer, table: Weight, batch: Batch): void;
  /** out[r] = x[r] / √(mean(x[r]²) + eps) · w, rows of length D = w.shape[0]; out may alias x. */
  rmsnorm(out: Buffer, x: Buffer, w: Weight, rows: number, eps: number): void;
  /** out[r] = (x[r] − mean) / √(var + eps) · w + b, rows of length D = w.shape[0]; out may alias x. */
  layernorm(out: Buffer, x: Buffer, w: Weight, b: Weight, rows: number, eps: number): void;
  /**
   * out[R, N] = x[R, K] · wᵀ (+ bias[N]) with w: [N, K]; with `accumulate`, out[R, N] += that instead (a residual
   * add in the product's epilogue: out + (x · wᵀ + bias), rounded as a separate add would round it). out never aliases x.
   */
  matmul(out: Buffer, x: Buffer, w: Weight, rows: number, bias?: Weight, accumulate?: boolean): void;
  /**
   * Rotary embedding in place, rotate-half pairing (i, i + rotaryDim/2) over the first `rotaryDim` dims of each
   * head. x: [R, heads, headDim]; cos, sin: float32 [positions, rotaryDim/2]; row r uses its batch position.
   */
  rope(x: Buffer, cos: Weight, sin: Weight, batch: Batch, heads: number, headDim: number, rotaryDim: number): void;
  /** Stores k, v ([R, kvHeads, headDim]) of `layer` at the batch rows' positions in their sequences' blocks. */
  kvWrite(cache: KvCache, layer: number, k: Buffer, v: Buffer, batch: Batch): void;
  /**
   * Causal attention of each row over its own sequence's cached positions 0 ..= its position (within the
   * window): out, q: [R, heads, headDim]. kvWrite of the same rows must come first.
   */
  attention(out: Buffer, q: Buffer, cache: KvCache, layer: number, batch: Batch, params: AttentionParams): void;
  /**
   * The gated MLP's first half in one op: out[R, N] = act(x · gateᵀ) ⊙ (x · upᵀ) with gate, up: [N, K] in one format;
   * `scratch` ([R, N]) receives x · upᵀ on the way. The same values as matmul, matmul, then glu; out aliases neither
   * x nor scratch.
   */
  gatedMatmul(out: Buffer, x: Buffer, gate: Weight, up: Weight, rows: number, act: Activation, scratch: Buffer): void;
  /** out[i] = act(gate[i]) · up[i], i < n; out may alias gate or up. */
  glu(out: Buffer, gate: Buffer, up: Buffer, n: number, act: Activation): void;
  /** out[i] = act(x[i]), i < n; out may alias x. */
  activation(out: Buffer, x: Buffer, n: number, act: Activation): void;
  /** out[i] = a[i] + b[i], i < n; out may alias a or b. */
  add(out: Buffer, a: Buffer, b: Buffer, n: number): void;
  /** out[i] = x[i] · s, i < n; out may alias x. */
  scale(out: Buffer, x: Buffer, s: number, n: number): void;
  /** out[i] = cap · tanh(x[i] / cap), i < n; out may alias x. */
  softcap(out: Buffer, x: Buffer, cap: number, n: number): void;
  /** out[batch.outputs, width] = the rows of x[R, width] whose logits the batch wants, in order. */
  gather(out: Buffer, x: Buffer, batch: Batch, width: number): void;
  /**
   * Learned position embeddings, in place: x[r] += table[position of row r] for the batch's R rows of `width`
   * values; table: a float32 vector [positions · width] (row p at p · width).
   */
  addPositions(x: Buffer, table: Weight, batch: Batch, width: number): void;
}
