/**
 * ggml's tensor types as GGUF files store them: each type's id, block size and block bytes, and a dequantizer
 * per type that turns whole blocks into float32 exactly as ggml's reference (`dequantize_row_*`) does, every step
 * in float32. The block layouts (all little-endian; `d`, `m`, `dmin` are IEEE halves):
 *
 * - `Q8_0`  32 values: d, 32 × int8 q; w = q · d.
 * - `Q4_0`  32 values: d, 16 bytes of nibbles (value j in byte j's low nibble, value j + 16 in its high one); w = (q − 8) · d.
 * - `Q4_1`  32 values: d, m, nibbles as Q4_0; w = q · d + m.
 * - `Q5_0`  32 values: d, u32 of fifth bits (bit j for value j), nibbles as Q4_0; w = (q − 16) · d.
 * - `Q5_1`  32 values: d, m, fifth bits, nibbles; w = q · d + m.
 * - `Q4_K`  256 values: d, dmin, 12 bytes of 6-bit sub-block scales and mins (8 sub-blocks of 32), 128 bytes of nibbles.
 * - `Q5_K`  256 values: d, dmin, 12 bytes of scales and mins, 32 bytes of fifth bits, 128 bytes of nibbles.
 * - `Q6_K`  256 values: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 int8 sub-block scales, d.
 */
import { bf16BitsToF32, f16BitsToF32 } from "./dtype.js";

/** The ggml tensor types this package reads. */
export type GgmlTypeName = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q4_K" | "Q5_K" | "Q6_K";

/** One ggml type: its name, values per block and bytes per block. */
export interface GgmlType {
  readonly name: GgmlTypeName;
  readonly id: number;
  readonly blockValues: number;
  readonly blockBytes: number;
}

const TYPES: readonly GgmlType[] = [
  { name: "F32", id: 0, blockValues: 1, blockBytes: 4 },
  { name: "F16", id: 1, blockValues: 1, blockBytes: 2 },
  { name: "Q4_0", id: 2, blockValues: 32, blockBytes: 18 },
  { name: "Q4_1", id: 3, blockValues: 32, blockBytes: 20 },
  { name: "Q5_0", id: 6, blockValues: 32, blockBytes: 22 },
  { name: "Q5_1", id: 7, blockValues: 32, blockBytes: 24 },
  { name: "Q8_0", id: 8, blockValues: 32, blockBytes: 34 },
  { name: "Q4_K", id: 12, blockValues: 256, blockBytes: 144 },
  { name: "Q5_K", id: 13, blockValues: 256, blockBytes: 176 },
  { name: "Q6_K", id: 14, blockValues: 256, blockBytes: 210 },
  { name: "BF16", id: 30, blockValues: 1, blockBytes: 2 },
];

/** ggml's names of the type ids it defines that this package does not read (for messages). */
const OTHER_NAMES: Readonly<Record<number, string>> = {
  9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL",
  21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
  34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
};

const BY_ID = new Map(TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

/** The type with ggml id `id`, or undefined when this package does not read it. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

/** The type named `name`. */
export function ggmlType(name: GgmlTypeName): GgmlType {
  return BY_NAME.get(name)!;
}

/** ggml's name of type id `id` ("type 99" when ggml defines none). */
export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? OTHER_NAMES[id] ?? `type ${id}`;
}

/** Bytes `values` values of `type` take (values a whole number of blocks). */
export function ggmlBytes(type: GgmlType, values: number): number {
  return (values / type.blockValues) * type.blockBytes;
}

const f32 = Math.fround;

/**
 * Dequantizes `blocks` whole blocks of `type` from `src` (starting at its byte 0) into `out` from element 0:
 * float32, as ggml's reference does it.
 */
export function dequantize(type: GgmlType, src: Uint8Array, blocks: number, out: Float32Array): void {
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const half = (at: number) => f16BitsToF32(view.getUint16(at, true));
  const B = type.blockBytes;
  switch (type.name) {
    case "F32":
      for (let i = 0; i < blocks; i++) out[i] = view.getFloat32(4 * i, true);
      return;
    case "F16":
      for (let i = 0; i < blocks; i++) out[i] = half(2 * i);
      return;
    case "BF16":
      for (let i = 0; i < blocks; i++) out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
      return;
    case "Q8_0":
      for (let b = 0; b < blocks; b++) {
        const at = b * B, d = half(at), o = b * 32;
        for (let j = 0; j < 32; j++) out[o + j] = f32(view.getInt8(at + 2 + j) * d);
      }
      return;
    case "Q4_0": case "Q4_1": {
      const hasMin = type.name === "Q4_1", qs = hasMin ? 4 : 2;
      for (let b = 0; b < blocks; b++) {
        const at = b * B, d = half(at), m = hasMin ? half(at + 2) : 0, o = b * 32;
        for (let j = 0; j < 16; j++) {
          const q = src[at + qs + j];
          if (hasMin) {
            out[o + j] = f32(f32((q & 15) * d) + m);
            out[o + j + 16] = f32(f32((q >> 4) * d) + m);
          } else {
            out[o + j] = f32(((q & 15) - 8) * d);
            out[o + j + 16] = f32(((q >> 4) - 8) * d);
          }
        }
      }
      return;
    }
    case "Q5_0": case "Q5_1": {
      const hasMin = type.name === "Q5_1", hAt = hasMin ? 4 : 2;
      for (let b = 0; b < blocks; b++) {
        const at = b * B, d = half(at), m = hasMin ? half(at + 2) : 0, o = b * 32;
        const qh = view.getUint32(at + hAt, true);
        for (let j = 0; j < 16; j++) {
          const q = src[at + hAt + 4 + j];
          const x0 = (q & 15) | (((qh >>> j) << 4) & 0x10);
          const x1 = (q >> 4) | ((qh >>> (j + 12)) & 0x10);
          if (hasMin) {
            out[o + j] = f32(f32(x0 * d) + m);
            out[o + j + 16] = f32(f32(x1 * d) + m);
          } else {
            out[o + j] = f32((x0 - 16) * d);
            out[o + j + 16] = f32((x1 - 16) * d);
          }
        }
      }
      return;
    }
    case "Q4_K": case "Q5_K": {
      const five = type.name === "Q5_K";
      const qsAt = five ? 48 : 16;
      for (let b = 0; b < blocks; b++) {
        const at = b * B, d = half(at), dmin = half(at + 2), scales = at + 4;
        let o = b * 256, q = at + qsAt, u1 = 1, u2 = 2;
        for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
          const [s1, m1] = scaleMinK4(is, src, scales), [s2, m2] = scaleMinK4(is + 1, src, scales);
          const d1 = f32(d * s1), n1 = f32(dmin * m1), d2 = f32(d * s2), n2 = f32(dmin * m2);
          for (let l = 0; l < 32; l++) {
            const hi = five && (src[at + 16 + l] & u1) !== 0 ? 16 : 0;
            out[o + l] = f32(f32(d1 * ((src[q + l] & 15) + hi)) - n1);
          }
          for (let l = 0; l < 32; l++) {
            const hi = five && (src[at + 16 + l] & u2) !== 0 ? 16 : 0;
            out[o + 32 + l] = f32(f32(d2 * ((src[q + l] >> 4) + hi)) - n2);
          }
          o += 64; q += 32; u1 <<= 2; u2 <<= 2;
        }
      }
      return;
    }
    case "Q6_K":
      for (let b = 0; b < blocks; b++) {
        const at = b * B, d = half(at + 208);
        let o = b * 256, ql = at, qh = at + 128, sc = at + 192;
        for (let n = 0; n < 256; n += 128) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4, h = src[qh + l];
            const q1 = ((src[ql + l] & 15) | ((h & 3) << 4)) - 32;
            const q2 = ((src[ql + l + 32] & 15) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
            out[o + l] = f32(f32(d * view.getInt8(sc + is)) * q1);
            out[o + l + 32] = f32(f32(d * view.getInt8(sc + is + 2)) * q2);
            out[o + l + 64] = f32(f32(d * view.getInt8(sc + is + 4)) * q3);
            out[o + l + 96] = f32(f32(d * view.getInt8(sc + is + 6)) * q4);
          }
          o += 128; ql += 64; qh += 32; sc += 8;
        }
      }
      return;
  }
}

/** Sub-block j's 6-bit scale and min of a Q4_K / Q5_K block (ggml's `get_scale_min_k4`), from the 12 bytes at `at`. */
function scaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 15) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}
