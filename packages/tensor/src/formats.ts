/**
 * Weight storage formats: how a [N, K] matrix (HF Linear layout, out_features × in_features) is laid out in
 * a backend's memory, and the conversions into each layout. Every backend stores the same layout, so the
 * plain-JS reference and the SIMD kernels read identical bytes.
 *
 * - `float32`  N·K f32, row-major.
 * - `float16`  N·K IEEE half bit patterns, row-major.
 * - `bfloat16` N·K bfloat16 bit patterns, row-major.
 * - `int8`     symmetric per-block quantization (ggml's Q8_0 idea): each row is padded with zeros to
 *              `Kp = ⌈K / 32⌉·32`, cut into blocks of 32, and stored as N·Kp int8 values plus N·Kp/32 f32
 *              scales (scale = max|w| / 127 of the block; w ≈ q · scale). Matrix products with int8 weights
 *              quantize their activations to int8 per row (absmax) and accumulate in i32.
 */
import { bf16BitsToF32, f16BitsToF32 } from "./dtype.js";

/** A weight storage format. */
export type WeightFormat = "float32" | "float16" | "bfloat16" | "int8";

/** Every storage format, in the order the bench and tests go through them. */
export const WEIGHT_FORMATS: readonly WeightFormat[] = ["float32", "float16", "bfloat16", "int8"];

/** Values per int8 block (one f32 scale each). */
export const INT8_BLOCK = 32;

/** Tells whether `value` names a storage format. */
export function isWeightFormat(value: unknown): value is WeightFormat {
  return typeof value === "string" && (WEIGHT_FORMATS as readonly string[]).includes(value);
}

/** Where the parts of one [N, K] matrix live: element counts of its data and of its scales, and its row stride. */
export interface MatrixLayout {
  /** Elements per stored row (K, or K padded to the block size). */
  readonly stride: number;
  /** Bytes of the weight values. */
  readonly dataBytes: number;
  /** f32 scales (0 for the float formats). */
  readonly scales: number;
  /** Bytes of one stored element. */
  readonly elementBytes: number;
}

/** The layout of an [N, K] matrix stored as `format`. */
export function matrixLayout(format: WeightFormat, N: number, K: number): MatrixLayout {
  switch (format) {
    case "float32":
      return { stride: K, dataBytes: 4 * N * K, scales: 0, elementBytes: 4 };
    case "float16":
    case "bfloat16":
      return { stride: K, dataBytes: 2 * N * K, scales: 0, elementBytes: 2 };
    case "int8": {
      const stride = Math.ceil(K / INT8_BLOCK) * INT8_BLOCK;
      return { stride, dataBytes: N * stride, scales: (N * stride) / INT8_BLOCK, elementBytes: 1 };
    }
  }
}

/** Bytes an [N, K] matrix takes in `format`, scales included. */
export function matrixBytes(format: WeightFormat, N: number, K: number): number {
  const l = matrixLayout(format, N, K);
  return l.dataBytes + 4 * l.scales;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Round to nearest, ties to even (torch.round and wasm's `nearest`), in float32. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The bfloat16 bit pattern nearest to `x` (round to nearest even; NaN stays NaN). */
export function f32ToBf16Bits(x: number): number {
  F32[0] = x;
  const u = U32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40;          // NaN: keep it quiet
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The IEEE half bit pattern nearest to `x` (round to nearest even; overflow → ±inf, subnormals kept). */
export function f32ToF16Bits(x: number): number {
  F32[0] = x;
  const u = U32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);  // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;                                    // overflow
  if (e <= 0) {                                                         // subnormal half (or zero)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) !== 0)) m++;
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;         // may carry into the exponent: still right
  return sign | h;
}

/** The destination of {@link encodeRows}: views of the format's storage for rows `row0 ..` of a matrix. */
export interface EncodedRows {
  /** Weight values: Float32Array (float32), Uint16Array (float16, bfloat16) or Int8Array (int8). */
  readonly data: Float32Array | Uint16Array | Int8Array;
  /** int8 only: the block scales. */
  readonly scales?: Float32Array;
}

/**
 * Writes `rows` rows of float32 values `src` ([rows, K]) into `dst` as `format`, starting at stored row `row0`
 * (offsets are in the format's own units: elements of `data`, entries of `scales`).
 */
export function encodeRows(format: WeightFormat, src: Float32Array, rows: number, K: number, dst: EncodedRows, row0 = 0): void {
  const { stride } = matrixLayout(format, 1, K);
  switch (format) {
    case "float32":
      (dst.data as Float32Array).set(src.subarray(0, rows * K), row0 * K);
      return;
    case "float16":
    case "bfloat16": {
      const out = dst.data as Uint16Array;
      const enc = format === "float16" ? f32ToF16Bits : f32ToBf16Bits;
      const base = row0 * K;
      for (let i = 0; i < rows * K; i++) out[base + i] = enc(src[i]);
      return;
    }
    case "int8": {
      const q = dst.data as Int8Array;
      const scales = dst.scales!;
      const blocks = stride / INT8_BLOCK;
      for (let r = 0; r < rows; r++) {
        quantizeBlocks(src.subarray(r * K, r * K + K), q.subarray((row0 + r) * stride, (row0 + r + 1) * stride),
          scales.subarray((row0 + r) * blocks, (row0 + r + 1) * blocks));
      }
      return;
    }
  }
}

/** One row into int8 blocks: q = round(w / s) with s = max|w| / 127 per block of 32 (zero padding past K). */
function quantizeBlocks(row: Float32Array, q: Int8Array, scales: Float32Array): void {
  const K = row.length;
  for (let b = 0; b < scales.length; b++) {
    const from = b * INT8_BLOCK, to = Math.min(from + INT8_BLOCK, K);
    let amax = 0;
    for (let k = from; k < to; k++) amax = Math.max(amax, Math.abs(row[k]));
    const scale = Math.fround(amax / 127);
    scales[b] = scale;
    const inv = scale === 0 ? 0 : Math.fround(1 / scale);
    for (let k = from; k < from + INT8_BLOCK; k++) q[k] = k < to ? roundHalfEven(Math.fround(row[k] * inv)) : 0;
  }
}

/**
 * Quantizes one activation row to int8 (symmetric, absmax): q[k] = round(x[k] · 127 / max|x|), q[k ≥ K] = 0.
 * Returns the row's scale max|x| / 127 (x ≈ q · scale); the float steps are float32, as the SIMD kernels do them.
 */
export function quantizeRow(x: Float32Array, K: number, q: Int8Array): number {
  let amax = 0;
  for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(x[k]));
  const inv = amax === 0 ? 0 : Math.fround(127 / amax);
  for (let k = 0; k < K; k++) q[k] = roundHalfEven(Math.fround(x[k] * inv));
  q.fill(0, K);
  return Math.fround(amax / 127);
}

/** Decodes stored row `n` of a matrix in `format` back to float32 into `out` ([K]). */
export function decodeRow(format: WeightFormat, data: EncodedRows, n: number, K: number, out: Float32Array): void {
  const { stride } = matrixLayout(format, 1, K);
  switch (format) {
    case "float32":
      out.set((data.data as Float32Array).subarray(n * K, n * K + K));
      return;
    case "float16": {
      const src = data.data as Uint16Array;
      for (let k = 0; k < K; k++) out[k] = f16BitsToF32(src[n * K + k]);
      return;
    }
    case "bfloat16": {
      const src = data.data as Uint16Array;
      for (let k = 0; k < K; k++) out[k] = bf16BitsToF32(src[n * K + k]);
      return;
    }
    case "int8": {
      const q = data.data as Int8Array;
      const scales = data.scales!;
      for (let k = 0; k < K; k++) out[k] = Math.fround(q[n * stride + k] * scales[(n * stride + k) / INT8_BLOCK | 0]);
      return;
    }
  }
}
