/**
 * How the gpu backend stores a matrix [N, K]: rows of Kp values (K padded with zeros to a multiple of 8, so a
 * kernel reads whole 8-value chunks), row after row — float32 values, or two 16-bit values per u32 word (float16
 * and bfloat16 on WebGPU). The cpu mode stores every format as the float32 values it holds (16-bit values widened
 * exactly), since gpu.js arrays are float32. Vectors are float32, unpadded.
 */
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits, type WeightFormat, type WeightSource } from "@actorlm/tensor";
import type { Storage } from "./wgsl-kernels.js";

/** Values per chunk of a stored row. */
export const CHUNK = 8;

/** K padded to a whole number of chunks. */
export function paddedK(K: number): number {
  return Math.ceil(K / CHUNK) * CHUNK;
}

/** How `format` is stored: as float32 in the cpu mode, as itself on WebGPU. Throws RangeError for a format the backend lacks. */
export function storageOf(format: WeightFormat, mode: "cpu" | "webgpu"): Storage {
  switch (format) {
    case "float32": return "f32";
    case "float16": return mode === "cpu" ? "f32" : "f16";
    case "bfloat16": return mode === "cpu" ? "f32" : "bf16";
    default: throw new RangeError(`the gpu backend stores float32, float16 or bfloat16 weights, not ${JSON.stringify(format)}`);
  }
}

/** Bytes of an [N, K] matrix stored as `storage`. */
export function storedBytes(storage: Storage, N: number, K: number): number {
  return N * paddedK(K) * (storage === "f32" ? 4 : 2);
}

/** A matrix's values as the source gives them: float32, or 16-bit patterns of its type. */
type Rows = { readonly type: "F32"; readonly values: Float32Array } | { readonly type: "F16" | "BF16"; readonly bits: Uint16Array };

/** Rows from .. to of `source` (all of them when it is a Float32Array), K values each. */
function readRows(source: Float32Array | WeightSource, from: number, to: number, K: number): Rows {
  if (source instanceof Float32Array) return { type: "F32", values: source.subarray(from * K, to * K) };
  if (source.type === "F32") {
    const values = new Float32Array((to - from) * K);
    source.read(from, to, values);
    return { type: "F32", values };
  }
  const bits = new Uint16Array((to - from) * K);
  source.read(from, to, bits);
  return { type: source.type, bits };
}

/** The rows' values as float32 (16-bit patterns widened exactly). */
function widen(rows: Rows): Float32Array {
  if (rows.type === "F32") return rows.values;
  const out = new Float32Array(rows.bits.length);
  (rows.type === "F16" ? f16ToF32 : bf16ToF32)(rows.bits, out);
  return out;
}

/** The rows' values rounded to `format` (exact for float32, and for a 16-bit source of the same type). */
function roundedTo(format: WeightFormat, rows: Rows): Float32Array {
  const values = widen(rows);
  if (format === "float32" || (format === "float16" && rows.type === "F16") || (format === "bfloat16" && rows.type === "BF16")) return values;
  const bits = Uint16Array.from(values, format === "float16" ? f32ToF16Bits : f32ToBf16Bits);
  (format === "float16" ? f16ToF32 : bf16ToF32)(bits, values);
  return values;
}

/** The rows' values as 16-bit patterns of `format` (copied when the source already has that type). */
function halves(format: "float16" | "bfloat16", rows: Rows): Uint16Array {
  const type = format === "float16" ? "F16" : "BF16";
  if (rows.type === type) return rows.bits;
  return Uint16Array.from(widen(rows), format === "float16" ? f32ToF16Bits : f32ToBf16Bits);
}

/**
 * Rows from .. to of an [N, K] matrix in the device's layout for `storage` (rows of paddedK(K) values, zero padded):
 * the bytes to write at byte offset from · (bytes per stored row).
 */
export function packRows(format: WeightFormat, storage: Storage, source: Float32Array | WeightSource, from: number, to: number, K: number): Uint8Array {
  const Kp = paddedK(K), n = to - from, rows = readRows(source, from, to, K);
  if (storage === "f32") {
    const values = roundedTo(format, rows), out = new Float32Array(n * Kp);
    for (let r = 0; r < n; r++) out.set(values.subarray(r * K, r * K + K), r * Kp);
    return new Uint8Array(out.buffer);
  }
  const bits = halves(format === "float16" ? "float16" : "bfloat16", rows), out = new Uint16Array(n * Kp);
  for (let r = 0; r < n; r++) out.set(bits.subarray(r * K, r * K + K), r * Kp);
  return new Uint8Array(out.buffer);
}

/** A vector's values as float32 (n values). */
export function vectorValues(source: Float32Array | WeightSource, n: number): Float32Array {
  return widen(readRows(source, 0, 1, n)).slice(0, n);
}
