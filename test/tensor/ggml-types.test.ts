/**
 * ggml's block types against their layouts: for each type, random codes and scales are packed the way ggml's
 * quantizers pack them (written here from the packing side, independently of the dequantizer's indexing), and
 * `dequantize` must give back exactly scale · code (− min) for every value, computed in float32.
 */
import { describe, expect, it } from "vitest";
import { dequantize, f16BitsToF32, f32ToF16Bits, ggmlType, type GgmlTypeName } from "@actorlm/tensor";
import { seededUniform } from "../seeded.js";

const f32 = Math.fround;
const random = seededUniform(2121);
const int = (n: number) => Math.floor(random() * n);
/** A random half (its float32 value, and its bits). */
function half(): { v: number; bits: number } {
  const bits = f32ToF16Bits((random() - 0.3) * 0.1);
  return { v: f16BitsToF32(bits), bits };
}

interface Case {
  bytes: Uint8Array;
  expected: Float32Array;
}

/** `blocks` random blocks of `type`, packed, with the values they stand for. */
function pack(type: GgmlTypeName, blocks: number): Case {
  const t = ggmlType(type);
  const bytes = new Uint8Array(blocks * t.blockBytes), view = new DataView(bytes.buffer);
  const expected = new Float32Array(blocks * t.blockValues);
  for (let b = 0; b < blocks; b++) {
    const at = b * t.blockBytes, o = b * t.blockValues;
    switch (type) {
      case "Q8_0": {
        const d = half();
        view.setUint16(at, d.bits, true);
        for (let j = 0; j < 32; j++) {
          const q = int(256) - 128;
          view.setInt8(at + 2 + j, q);
          expected[o + j] = f32(q * d.v);
        }
        break;
      }
      case "Q4_0": case "Q4_1": case "Q5_0": case "Q5_1": {
        const five = type.startsWith("Q5"), min = type.endsWith("_1");
        const d = half(), m = half();
        view.setUint16(at, d.bits, true);
        if (min) view.setUint16(at + 2, m.bits, true);
        const qs = at + (min ? 4 : 2) + (five ? 4 : 0);
        let qh = 0;
        const codes = Array.from({ length: 32 }, () => int(five ? 32 : 16));
        for (let j = 0; j < 16; j++) {
          bytes[qs + j] = (codes[j] & 15) | ((codes[j + 16] & 15) << 4);
          if (five) qh |= ((codes[j] >> 4) << j) | ((codes[j + 16] >> 4) << (j + 16));
        }
        if (five) view.setUint32(at + (min ? 4 : 2), qh >>> 0, true);
        const offset = min ? 0 : five ? 16 : 8;
        for (let j = 0; j < 32; j++) expected[o + j] = min ? f32(f32(codes[j] * d.v) + m.v) : f32((codes[j] - offset) * d.v);
        break;
      }
      case "Q4_K": case "Q5_K": {
        const five = type === "Q5_K";
        const d = half(), dmin = half();
        view.setUint16(at, d.bits, true);
        view.setUint16(at + 2, dmin.bits, true);
        const sc = Array.from({ length: 8 }, () => int(64)), mn = Array.from({ length: 8 }, () => int(64));
        // 6-bit scales and mins, packed as ggml's quantize_row_q4_K does
        for (let j = 0; j < 8; j++) {
          if (j < 4) {
            bytes[at + 4 + j] = sc[j];
            bytes[at + 4 + j + 4] = mn[j];
          } else {
            bytes[at + 4 + j + 4] = (sc[j] & 0xf) | ((mn[j] & 0xf) << 4);
            bytes[at + 4 + j - 4] |= (sc[j] >> 4) << 6;
            bytes[at + 4 + j] |= (mn[j] >> 4) << 6;
          }
        }
        const L = Array.from({ length: 256 }, () => int(five ? 32 : 16));
        const qh = at + 16, ql = at + (five ? 48 : 16);
        // quants: 64 values per pair of sub-blocks, low nibble the first 32, high nibble the next 32
        for (let n = 0, m1 = 1, m2 = 2; n < 256; n += 64, m1 <<= 2, m2 <<= 2) {
          for (let j = 0; j < 32; j++) {
            bytes[ql + n / 2 + j] = (L[n + j] & 15) | ((L[n + j + 32] & 15) << 4);
            if (five) bytes[qh + j] |= (L[n + j] > 15 ? m1 : 0) | (L[n + j + 32] > 15 ? m2 : 0);
          }
        }
        for (let i = 0; i < 256; i++) {
          const s = Math.floor(i / 32);
          expected[o + i] = f32(f32(f32(d.v * sc[s]) * L[i]) - f32(dmin.v * mn[s]));
        }
        break;
      }
      case "Q6_K": {
        const d = half();
        view.setUint16(at + 208, d.bits, true);
        const sc = Array.from({ length: 16 }, () => int(256) - 128);
        sc.forEach((s, i) => view.setInt8(at + 192 + i, s));
        const L = Array.from({ length: 256 }, () => int(64));
        // as quantize_row_q6_K packs them
        for (let j = 0, ql = at, qh = at + 128; j < 256; j += 128, ql += 64, qh += 32) {
          for (let l = 0; l < 32; l++) {
            const q1 = L[j + l] & 15, q2 = L[j + l + 32] & 15, q3 = L[j + l + 64] & 15, q4 = L[j + l + 96] & 15;
            bytes[ql + l] = q1 | (q3 << 4);
            bytes[ql + l + 32] = q2 | (q4 << 4);
            bytes[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
          }
        }
        for (let i = 0; i < 256; i++) expected[o + i] = f32(f32(d.v * sc[Math.floor(i / 16)]) * (L[i] - 32));
        break;
      }
      default:
        throw new Error(type);
    }
  }
  return { bytes, expected };
}

describe("ggml block types", () => {
  it.each(["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"] as const)("%s: dequantize gives scale · code (− min) for every value of 3 blocks", (type) => {
    const { bytes, expected } = pack(type, 3);
    const out = new Float32Array(expected.length);
    dequantize(ggmlType(type), bytes, 3, out);
    expect(out).toEqual(expected);
  });

  it("F32, F16 and BF16 are read as they are", () => {
    const v = Float32Array.from([1.5, -2.25, 0, 65504]);
    const out = new Float32Array(4);
    dequantize(ggmlType("F32"), new Uint8Array(v.buffer), 4, out);
    expect(out).toEqual(v);
    dequantize(ggmlType("F16"), new Uint8Array(Uint16Array.from(v, (x) => f32ToF16Bits(x)).buffer), 4, out);
    expect(out).toEqual(v);
    dequantize(ggmlType("BF16"), new Uint8Array(Uint16Array.from([0x3fc0, 0xc010, 0, 0x4000]).buffer), 4, out);
    expect(out).toEqual(Float32Array.from([1.5, -2.25, 0, 2]));
  });
});
