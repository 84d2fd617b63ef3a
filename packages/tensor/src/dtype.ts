/**
 * Element types as spelled in safetensors headers, their sizes, and conversions to float32.
 */

/** Every safetensors dtype this package understands. */
export type DType =
  | "F64" | "F32" | "F16" | "BF16"
  | "I64" | "I32" | "I16" | "I8"
  | "U64" | "U32" | "U16" | "U8"
  | "BOOL" | "F8_E4M3" | "F8_E5M2";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

/** True when `s` names a dtype this package knows. */
export function isDType(s: unknown): s is DType {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** The typed array that holds raw elements of each dtype (F16/BF16 as their 16-bit patterns). */
export type RawArray =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array
  | BigUint64Array | Uint32Array | Uint8Array;

/** Wrap `byteLength` bytes at `byteOffset` of `buffer` as the raw typed array of `dtype` (offset must be aligned). */
export function rawView(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, byteLength: number): RawArray {
  const n = byteLength / DTYPE_SIZE[dtype];
  switch (dtype) {
    case "F64": return new Float64Array(buffer, byteOffset, n);
    case "F32": return new Float32Array(buffer, byteOffset, n);
    case "F16": case "BF16": case "U16": return new Uint16Array(buffer, byteOffset, n);
    case "I64": return new BigInt64Array(buffer, byteOffset, n);
    case "U64": return new BigUint64Array(buffer, byteOffset, n);
    case "I32": return new Int32Array(buffer, byteOffset, n);
    case "U32": return new Uint32Array(buffer, byteOffset, n);
    case "I16": return new Int16Array(buffer, byteOffset, n);
    case "I8": return new Int8Array(buffer, byteOffset, n);
    case "U8": case "BOOL": case "F8_E4M3": case "F8_E5M2": return new Uint8Array(buffer, byteOffset, n);
  }
}

/** Float32 value of one IEEE half-precision bit pattern (subnormals, ±inf and NaN included). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;                    // zero or subnormal
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;       // inf or NaN
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Float32 value of one bfloat16 bit pattern (the top half of a float32). */
export function bf16BitsToF32(b: number): number {
  BITS_U32[0] = (b & 0xffff) << 16;
  return BITS_F32[0];
}
const BITS_U32 = new Uint32Array(1);
const BITS_F32 = new Float32Array(BITS_U32.buffer);

/** out[i] = f16(src[i]) for i < src.length; writes float32 bit patterns directly (exact, NaN payloads kept). */
export function f16ToF32(src: Uint16Array, out: Float32Array): void {
  checkLength(src.length, out.length);
  const bits = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) out[i] = (sign ? -1 : 1) * mant * 2 ** -24;     // zero or subnormal: exact in f32
    else if (exp === 31) bits[i] = sign | 0x7f800000 | (mant << 13); // inf / NaN
    else bits[i] = sign | ((exp + 112) << 23) | (mant << 13);      // rebias 15 → 127
  }
}

/** out[i] = bf16(src[i]) for i < src.length (a 16-bit shift: exact for every pattern). */
export function bf16ToF32(src: Uint16Array, out: Float32Array): void {
  checkLength(src.length, out.length);
  const bits = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}

/** The bits that are all ones in the exponent of a non-finite (±inf or NaN) value of each 16-bit float type. */
const HALF_EXPONENT = { F16: 0x7c00, BF16: 0x7f80 } as const;

/**
 * Index of the first non-finite value (NaN or ±inf) of `values` — float32 values, or float16 / bfloat16 bit
 * patterns (`type` says which) — or -1 when every one is finite. One pass, no allocation: cheap beside reading them.
 */
export function firstNonFinite(values: Float32Array | Uint16Array, type: "F32" | "F16" | "BF16" = "F32"): number {
  if (type === "F32") {
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      if (x - x !== 0) return i;                                     // NaN - NaN and inf - inf are NaN
    }
    return -1;
  }
  const e = HALF_EXPONENT[type];
  for (let i = 0; i < values.length; i++) if ((values[i] & e) === e) return i;
  return -1;
}

/** Convert raw elements of `dtype` into `out` (float32); throws RangeError for dtypes with no float meaning here. */
export function toFloat32Into(dtype: DType, src: RawArray, out: Float32Array): void {
  switch (dtype) {
    case "F16": return f16ToF32(src as Uint16Array, out);
    case "BF16": return bf16ToF32(src as Uint16Array, out);
    case "F32": case "F64": case "I32": case "I16": case "I8": case "U32": case "U16": case "U8": case "BOOL": {
      const s = src as Float32Array;
      checkLength(s.length, out.length);
      for (let i = 0; i < s.length; i++) out[i] = s[i];
      return;
    }
    case "I64": case "U64": {
      const s = src as BigInt64Array;
      checkLength(s.length, out.length);
      for (let i = 0; i < s.length; i++) out[i] = Number(s[i]);
      return;
    }
    case "F8_E4M3": case "F8_E5M2":
      throw new RangeError(`conversion of ${dtype} to float32 is not supported`);
  }
}

function checkLength(n: number, outLength: number): void {
  if (outLength < n) throw new RangeError(`output holds ${outLength} elements, ${n} needed`);
}
