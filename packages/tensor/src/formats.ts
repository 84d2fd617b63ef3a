/**
 * Weight storage formats and the one layout every backend stores them in, so the plain-JS reference and the
 * SIMD kernels read identical bytes. A [N, K] matrix (HF Linear layout, out_features × in_features) is cut into
 * tiles of 4 rows (N padded with zero rows to a multiple of 4) and each row into chunks (K padded with zeros); a
 * tile is stored chunk by chunk, the 4 rows' pieces of a chunk side by side. A matrix-vector product then reads
 * the weights as one sequential stream, which the hardware prefetches far better than 4 interleaved row streams.
 *
 * - `float32`  chunks of 4 values: 64 bytes per (tile, chunk).
 * - `float16`  chunks of 8 IEEE half bit patterns: 64 bytes per (tile, chunk).
 * - `bfloat16` chunks of 8 bfloat16 bit patterns: 64 bytes per (tile, chunk).
 * - `int8`     symmetric per-block quantization (ggml's Q8_0 idea): chunks (blocks) of 32 int8 values with one
 *              f32 scale each (max|w| / 127 of the block; w ≈ q · scale); per (tile, block) the 4 scales, then the
 *              4 rows' 32 values: 144 bytes. Matrix products with int8 weights quantize their activations to int8
 *              per row (absmax) and accumulate in i32.
 * - `ternary`  BitNet b1.58: values q ∈ {-1, 0, 1} with one f32 scale per matrix (w = q · scale), 2 bits each:
 *              chunks of 64 values, a row's piece 16 bytes = eight u16 lanes; lane i holds, in bits 2f and 2f + 1
 *              (f = 0 .. 7), q + 1 ∈ {0, 1, 2} of the chunk's value 8f + i (3 never occurs; padding is 0, whose
 *              activations are 0): 64 bytes per (tile, chunk), then a 16-byte trailer after the last tile holding
 *              the scale and the inverse scale the values were ternarized with (f32 each). Lane i's field f pairs
 *              with activation 8f + i, so a kernel unpacks a field for all 8 lanes with one shift (and, in byte
 *              lanes, fields f and f + 4 with one shift and one mask). Matrix products quantize their activations
 *              to int8 per row (absmax) and accumulate in i32: out = Σ q_x q_w · s_x · scale.
 * - `q4`       4-bit blocks (ggml's Q4_0 numbers): blocks of 32 values q ∈ [-8, 7] with one IEEE half scale d each
 *              (w = q · d; from float weights d = −m / 8 where m is the block's value of largest magnitude, q =
 *              round(w / d) clamped, round to nearest even); per (tile, block) the 4 rows' scales (8 bytes), then the 4
 *              rows' 16 bytes of nibbles, seen as eight little-endian u16 lanes: lane i holds values i, 8 + i, 16 + i
 *              and 24 + i in its bits 0–3, 4–7, 8–11 and 12–15, each a 4-bit two's complement, so a kernel gets 8
 *              consecutive values as i16 lanes with at most two 16-bit shifts: 72 bytes, 4.5 bits per weight. Matrix products quantize their activations to int8 per row and
 *              accumulate in i32, as for int8.
 * A vector (norm weights, biases) is always float32, plain.
 */
import { bf16BitsToF32, f16BitsToF32 } from "./dtype.js";

/** A weight storage format. */
export type WeightFormat = "float32" | "float16" | "bfloat16" | "int8" | "ternary" | "q4";

/** Every storage format, in the order the bench and tests go through them. */
export const WEIGHT_FORMATS: readonly WeightFormat[] = ["float32", "float16", "bfloat16", "int8", "ternary", "q4"];

/** Values per int8 block (one f32 scale each). */
export const INT8_BLOCK = 32;

/** Values per q4 block (one half scale each). */
export const Q4_BLOCK = 32;

/** Bytes of one q4 (tile, block) group: 4 half scales, then 4 rows of 16 bytes of nibbles. */
const Q4_GROUP = 72;

/** Values per ternary chunk of a row (16 bytes). */
export const TERNARY_CHUNK = 64;

/** Bytes of a ternary matrix's trailer (scale, inverse scale, zeros). */
const TERNARY_TRAILER = 16;

/** Rows per tile. */
export const TILE_ROWS = 4;

/** Tells whether `value` names a storage format. */
export function isWeightFormat(value: unknown): value is WeightFormat {
  return typeof value === "string" && (WEIGHT_FORMATS as readonly string[]).includes(value);
}

/** The tiled layout of one [N, K] matrix in a format. */
export interface MatrixLayout {
  /** Values per chunk of a row. */
  readonly chunk: number;
  /** Chunks per row (K padded to a whole number of chunks). */
  readonly chunks: number;
  /** Tiles (N padded to a multiple of 4, over 4). */
  readonly tiles: number;
  /** Bytes of one (tile, chunk): the 4 rows' pieces (and, for int8, their 4 scales first). */
  readonly groupBytes: number;
  /** Bytes of the whole matrix (for ternary, the trailer included). */
  readonly bytes: number;
}

const CHUNK: Readonly<Record<WeightFormat, number>> = { float32: 4, float16: 8, bfloat16: 8, int8: INT8_BLOCK, ternary: TERNARY_CHUNK, q4: Q4_BLOCK };

/** The layout of an [N, K] matrix stored as `format`. */
export function matrixLayout(format: WeightFormat, N: number, K: number): MatrixLayout {
  const chunk = CHUNK[format];
  const chunks = Math.ceil(K / chunk), tiles = Math.ceil(N / TILE_ROWS);
  const groupBytes = format === "int8" ? 16 + TILE_ROWS * INT8_BLOCK : format === "q4" ? Q4_GROUP : 64;
  return { chunk, chunks, tiles, groupBytes, bytes: tiles * chunks * groupBytes + (format === "ternary" ? TERNARY_TRAILER : 0) };
}

/** Bytes an [N, K] matrix takes in `format`, padding and scales included. */
export function matrixBytes(format: WeightFormat, N: number, K: number): number {
  return matrixLayout(format, N, K).bytes;
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

/** Typed views of one stored matrix's bytes (the same memory seen as each element type its format uses). */
export interface MatrixBytes {
  readonly f32: Float32Array;
  readonly u16: Uint16Array;
  readonly i8: Int8Array;
}

/** Views of `bytes` bytes at `offset` of `buffer` (a multiple of 64 bytes, 4-byte aligned). */
export function matrixViews(buffer: ArrayBufferLike, offset: number, bytes: number): MatrixBytes {
  return { f32: new Float32Array(buffer, offset, bytes >> 2), u16: new Uint16Array(buffer, offset, bytes >> 1), i8: new Int8Array(buffer, offset, bytes) };
}

/** Index (in elements of the format's value type) of row n's piece of chunk j. */
function pieceAt(layout: MatrixLayout, format: WeightFormat, n: number, j: number): number {
  const group = (Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes;
  const r = n % TILE_ROWS;
  switch (format) {
    case "float32": return (group >> 2) + r * 4;
    case "float16": case "bfloat16": return (group >> 1) + r * 8;
    case "int8": return group + 16 + r * INT8_BLOCK;
    case "ternary": return (group >> 1) + r * 8;
    case "q4": return group + 8 + r * 16;
  }
}

/**
 * Writes `rows` rows of float32 values `src` ([rows, K]) as rows row0 .. of an [N, K] matrix stored as `format`
 * in `dst` (padding stays as it was: zero in fresh memory). Ternary values are ternarized with the inverse scale
 * already in `dst`'s trailer (see {@link setTernaryScale}).
 */
export function encodeRows(format: WeightFormat, src: Float32Array, rows: number, N: number, K: number, dst: MatrixBytes, row0 = 0): void {
  const layout = matrixLayout(format, N, K);
  const { chunk } = layout;
  const inverse = format === "ternary" ? ternaryScales(dst, N, K).inverse : 0;
  for (let r = 0; r < rows; r++) {
    const n = row0 + r, row = src.subarray(r * K, r * K + K);
    for (let j = 0; j < layout.chunks; j++) {
      const at = pieceAt(layout, format, n, j), from = j * chunk, to = Math.min(K, from + chunk);
      switch (format) {
        case "float32":
          dst.f32.set(row.subarray(from, to), at);
          break;
        case "float16":
        case "bfloat16": {
          const enc = format === "float16" ? f32ToF16Bits : f32ToBf16Bits;
          for (let k = from; k < to; k++) dst.u16[at + k - from] = enc(row[k]);
          break;
        }
        case "int8": {
          const group = (Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes;
          dst.f32[(group >> 2) + (n % TILE_ROWS)] = quantizeBlock(row.subarray(from, to), dst.i8.subarray(at, at + INT8_BLOCK));
          break;
        }
        case "ternary":
          packTernaryPiece(dst.u16, at, (k) => ternarize(row[k], inverse), from, to);
          break;
        case "q4": {
          const group = (Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes;
          dst.u16[(group >> 1) + (n % TILE_ROWS)] = quantizeQ4Block(row.subarray(from, to), dst.i8, at);
          break;
        }
      }
    }
  }
}

/** Decodes row `n` of an [N, K] matrix stored as `format` in `src` back to float32 into `out` ([K]). */
export function decodeRow(format: WeightFormat, src: MatrixBytes, n: number, N: number, K: number, out: Float32Array): void {
  const layout = matrixLayout(format, N, K);
  const { chunk } = layout;
  const scale = format === "ternary" ? ternaryScales(src, N, K).scale : 0;
  for (let j = 0; j < layout.chunks; j++) {
    const at = pieceAt(layout, format, n, j), from = j * chunk, to = Math.min(K, from + chunk);
    switch (format) {
      case "float32":
        out.set(src.f32.subarray(at, at + to - from), from);
        break;
      case "float16":
        for (let k = from; k < to; k++) out[k] = f16BitsToF32(src.u16[at + k - from]);
        break;
      case "bfloat16":
        for (let k = from; k < to; k++) out[k] = bf16BitsToF32(src.u16[at + k - from]);
        break;
      case "int8": {
        const scale = src.f32[(((Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes) >> 2) + (n % TILE_ROWS)];
        for (let k = from; k < to; k++) out[k] = Math.fround(src.i8[at + k - from] * scale);
        break;
      }
      case "ternary":
        for (let k = from; k < to; k++) out[k] = Math.fround(ternaryAt(src.u16, at, k - from) * scale);
        break;
      case "q4": {
        const d = f16BitsToF32(src.u16[(((Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes) >> 1) + (n % TILE_ROWS)]);
        for (let k = from; k < to; k++) out[k] = Math.fround(q4At(src.i8, at, k - from) * d);
        break;
      }
    }
  }
}

/** Row n of an int8 [N, K] matrix as its values `q` ([chunks · 32], zero padded) and block scales ([chunks]). */
export function int8Row(src: MatrixBytes, n: number, N: number, K: number, q: Int8Array, scales: Float32Array): void {
  const layout = matrixLayout("int8", N, K);
  for (let j = 0; j < layout.chunks; j++) {
    const at = pieceAt(layout, "int8", n, j);
    q.set(src.i8.subarray(at, at + INT8_BLOCK), j * INT8_BLOCK);
    scales[j] = src.f32[(((Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes) >> 2) + (n % TILE_ROWS)];
  }
}

/** Row n of a q4 [N, K] matrix as its values `q` ([chunks · 32], zero padded) and block scales ([chunks]). */
export function q4Row(src: MatrixBytes, n: number, N: number, K: number, q: Int8Array, scales: Float32Array): void {
  const layout = matrixLayout("q4", N, K);
  for (let j = 0; j < layout.chunks; j++) {
    const at = pieceAt(layout, "q4", n, j);
    for (let c = 0; c < Q4_BLOCK; c++) q[j * Q4_BLOCK + c] = j * Q4_BLOCK + c < K ? q4At(src.i8, at, c) : 0;
    scales[j] = f16BitsToF32(src.u16[(((Math.floor(n / TILE_ROWS) * layout.chunks + j) * layout.groupBytes) >> 1) + (n % TILE_ROWS)]);
  }
}

/** Byte (from the piece's start) of value c (< 32) of a q4 piece: lane c & 7, nibble c >> 3 (two per byte). */
const q4Byte = (c: number): number => 2 * (c & 7) + (c >> 4);
/** Bit shift of value c within its byte. */
const q4Shift = (c: number): number => (c & 8) >> 1;

/** The value q ∈ [-8, 7] at offset c (< 32) of the q4 piece (16 bytes of nibbles) at byte `at`. */
function q4At(i8: Int8Array, at: number, c: number): number {
  return (i8[at + q4Byte(c)] << (28 - q4Shift(c))) >> 28;
}

/**
 * One block (up to 32 values; zeros past its end) into q4 nibbles at byte `at` of `i8`: d = −m / 8 where m is the value
 * of largest magnitude (the first such), rounded to a half; q = round(w / d) (ties to even) clamped to [-8, 7].
 * Returns d's half bit pattern. For the values a Q4_0 block stands for (largest magnitude −8 · d, as ggml's quantizer
 * makes them) this gives back exactly that block.
 */
function quantizeQ4Block(values: Float32Array, i8: Int8Array, at: number): number {
  let amax = 0, max = 0;
  for (let k = 0; k < values.length; k++) {
    if (Math.abs(values[k]) > amax) {
      amax = Math.abs(values[k]);
      max = values[k];
    }
  }
  const bits = f32ToF16Bits(Math.fround(max / -8)), d = f16BitsToF32(bits);
  const inv = d === 0 ? 0 : Math.fround(1 / d);
  i8.fill(0, at, at + 16);
  for (let c = 0; c < 32; c++) {
    const q = c < values.length ? Math.max(-8, Math.min(7, roundHalfEven(Math.fround(values[c] * inv)))) : 0;
    i8[at + q4Byte(c)] |= (q & 15) << q4Shift(c);
  }
  return bits;
}

/** One block (up to 32 values) into int8: q = round(w / s) with s = max|w| / 127 (zeros past its end); returns s. */
function quantizeBlock(values: Float32Array, q: Int8Array): number {
  let amax = 0;
  for (let k = 0; k < values.length; k++) amax = Math.max(amax, Math.abs(values[k]));
  const scale = Math.fround(amax / 127);
  const inv = scale === 0 ? 0 : Math.fround(1 / scale);
  for (let k = 0; k < q.length; k++) q[k] = k < values.length ? roundHalfEven(Math.fround(values[k] * inv)) : 0;
  return scale;
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

// ---- ternary ----

/** A ternary matrix's scale (w = q · scale) and the inverse scale its values were ternarized with. */
export interface TernaryScales {
  readonly scale: number;
  readonly inverse: number;
}

/**
 * BitNet b1.58's scales of a matrix whose mean |w| is `meanAbs` (as transformers computes them, in float32):
 * inverse = 1 / max(mean|w|, 1e-5), scale = 1 / inverse.
 */
export function ternaryScalesOf(meanAbs: number): TernaryScales {
  const inverse = Math.fround(1 / Math.max(Math.fround(meanAbs), 1e-5));
  return { scale: Math.fround(1 / inverse), inverse };
}

/** q = clamp(round(w · inverse), -1, 1), rounding half to even as torch does. */
export function ternarize(w: number, inverse: number): number {
  return Math.max(-1, Math.min(1, roundHalfEven(Math.fround(w * inverse))));
}

/** Stores a ternary [N, K] matrix's scales in its trailer (before its rows are encoded from float values). */
export function setTernaryScale(dst: MatrixBytes, N: number, K: number, scales: TernaryScales): void {
  const at = trailerAt(N, K);
  dst.f32[at] = scales.scale;
  dst.f32[at + 1] = scales.inverse;
}

/** The scales in a ternary [N, K] matrix's trailer. */
export function ternaryScales(src: MatrixBytes, N: number, K: number): TernaryScales {
  const at = trailerAt(N, K);
  return { scale: src.f32[at], inverse: src.f32[at + 1] };
}

/**
 * Writes `rows` rows of ternary values `q` ([rows, K], each -1, 0 or 1) as rows row0 .. of a ternary [N, K] matrix
 * in `dst` (the scales are set apart, with {@link setTernaryScale}).
 */
export function encodeTernaryRows(q: Int8Array, rows: number, N: number, K: number, dst: MatrixBytes, row0 = 0): void {
  const layout = matrixLayout("ternary", N, K);
  for (let r = 0; r < rows; r++) {
    const o = r * K;
    for (let j = 0; j < layout.chunks; j++) {
      const from = j * TERNARY_CHUNK;
      packTernaryPiece(dst.u16, pieceAt(layout, "ternary", row0 + r, j), (k) => q[o + k], from, Math.min(K, from + TERNARY_CHUNK));
    }
  }
}

/** Row n of a ternary [N, K] matrix as its values q ∈ {-1, 0, 1} ([chunks · 64], zero padded). */
export function ternaryRow(src: MatrixBytes, n: number, N: number, K: number, q: Int8Array): void {
  const layout = matrixLayout("ternary", N, K);
  q.fill(0);
  for (let j = 0; j < layout.chunks; j++) {
    const at = pieceAt(layout, "ternary", n, j), from = j * TERNARY_CHUNK, to = Math.min(K, from + TERNARY_CHUNK);
    for (let k = from; k < to; k++) q[k] = ternaryAt(src.u16, at, k - from);
  }
}

/** Index in f32 elements of a ternary [N, K] matrix's trailer. */
function trailerAt(N: number, K: number): number {
  return (matrixLayout("ternary", N, K).bytes - TERNARY_TRAILER) >> 2;
}

/** Packs values from .. to (exclusive, at most 64; `value(k)` ∈ {-1, 0, 1}) into the eight u16 lanes at `at`. */
function packTernaryPiece(u16: Uint16Array, at: number, value: (k: number) => number, from: number, to: number): void {
  for (let i = 0; i < 8; i++) {
    let lane = 0;
    for (let f = 0; f < 8; f++) {
      const k = from + 8 * f + i;
      if (k < to) lane |= (value(k) + 1) << (2 * f);
    }
    u16[at + i] = lane;
  }
}

/** The value (-1, 0 or 1) at offset c (< 64) of the ternary piece at `at`. */
function ternaryAt(u16: Uint16Array, at: number, c: number): number {
  return ((u16[at + (c & 7)] >> (2 * (c >> 3))) & 3) - 1;
}
