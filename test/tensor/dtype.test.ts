import { describe, expect, it } from "vitest";
import { DTYPE_SIZE, bf16BitsToF32, bf16ToF32, f16BitsToF32, f16ToF32, firstNonFinite, isDType, toFloat32Into } from "../../packages/tensor/src/dtype.js";

/** [bits, value] pairs for IEEE half precision. */
const F16_CASES: [number, number][] = [
  [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
  [0x0001, 2 ** -24],                 // smallest subnormal
  [0x03ff, 1023 * 2 ** -24],          // largest subnormal
  [0x0400, 2 ** -14],                 // smallest normal
  [0x8001, -(2 ** -24)],
  [0x7c00, Infinity], [0xfc00, -Infinity],
];

/** [bits, value] pairs for bfloat16. */
const BF16_CASES: [number, number][] = [
  [0x0000, 0], [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x7f7f, 3.3895313892515355e38],
  [0x0001, 2 ** -133],                // smallest subnormal
  [0x0080, 2 ** -126],                // smallest normal
  [0x7f80, Infinity], [0xff80, -Infinity],
];

describe("dtypes", () => {
  it("knows element sizes", () => {
    expect(DTYPE_SIZE.F32).toBe(4);
    expect(DTYPE_SIZE.BF16).toBe(2);
    expect(DTYPE_SIZE.F16).toBe(2);
    expect(DTYPE_SIZE.I64).toBe(8);
    expect(DTYPE_SIZE.F64).toBe(8);
    expect(DTYPE_SIZE.I8).toBe(1);
    expect(DTYPE_SIZE.U8).toBe(1);
    expect(DTYPE_SIZE.I16).toBe(2);
    expect(DTYPE_SIZE.I32).toBe(4);
    expect(DTYPE_SIZE.BOOL).toBe(1);
    expect(isDType("BF16")).toBe(true);
    expect(isDType("Q4_K")).toBe(false);
    expect(isDType("toString")).toBe(false);
  });

  it("converts f16 bit patterns, subnormals and infinities included", () => {
    const src = Uint16Array.from(F16_CASES.map(([b]) => b));
    const out = new Float32Array(src.length);
    f16ToF32(src, out);
    F16_CASES.forEach(([bits, value], i) => {
      expect(out[i], `0x${bits.toString(16)}`).toBe(Math.fround(value));
      expect(f16BitsToF32(bits)).toBe(Math.fround(value));
    });
    expect(Object.is(out[0], 0)).toBe(true);
  });

  it("keeps f16 negative zero and NaN", () => {
    const out = new Float32Array(3);
    f16ToF32(Uint16Array.of(0x8000, 0x7e00, 0xfc01), out);
    expect(Object.is(out[0], -0)).toBe(true);
    expect(out[1]).toBeNaN();
    expect(out[2]).toBeNaN();
    expect(f16BitsToF32(0x7c01)).toBeNaN();
  });

  it("converts bf16 bit patterns exactly", () => {
    const src = Uint16Array.from(BF16_CASES.map(([b]) => b));
    const out = new Float32Array(src.length);
    bf16ToF32(src, out);
    BF16_CASES.forEach(([bits, value], i) => {
      expect(out[i], `0x${bits.toString(16)}`).toBe(Math.fround(value));
      expect(bf16BitsToF32(bits)).toBe(Math.fround(value));
    });
    const nan = new Float32Array(2);
    bf16ToF32(Uint16Array.of(0x7fc0, 0x8000), nan);
    expect(nan[0]).toBeNaN();
    expect(Object.is(nan[1], -0)).toBe(true);
  });

  it("converts every f16 pattern the same way as the scalar reference", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = new Float32Array(65536);
    f16ToF32(all, out);
    for (let i = 0; i < 65536; i++) {
      const ref = f16BitsToF32(i);
      if (Number.isNaN(ref)) expect(out[i]).toBeNaN();
      else if (out[i] !== Math.fround(ref)) throw new Error(`f16 0x${i.toString(16)}: ${out[i]} vs ${ref}`);
    }
  });

  it("finds the first non-finite value of float32 values and of every f16 and bf16 pattern", () => {
    expect(firstNonFinite(Float32Array.of(0, -0, 3.4e38, -1e-45, 1))).toBe(-1);
    for (const bad of [NaN, Infinity, -Infinity]) expect(firstNonFinite(Float32Array.of(1, 2, bad, NaN))).toBe(2);
    for (const [type, toF32] of [["F16", f16BitsToF32], ["BF16", bf16BitsToF32]] as const) {
      for (let bits = 0; bits < 65536; bits++) {
        const finite = Number.isFinite(toF32(bits));
        if ((firstNonFinite(Uint16Array.of(0, bits), type) === 1) === finite) throw new Error(`${type} 0x${bits.toString(16)}: finite is ${finite}`);
      }
    }
  });

  it("writes into a view at an offset of a larger buffer", () => {
    const big = new Float32Array(8);
    f16ToF32(Uint16Array.of(0x3c00, 0x4000), big.subarray(3, 5));
    bf16ToF32(Uint16Array.of(0x3f80), big.subarray(6, 7));
    expect([...big]).toEqual([0, 0, 0, 1, 2, 0, 1, 0]);
  });

  it("converts integer and f64 types, and refuses fp8", () => {
    const out = new Float32Array(3);
    toFloat32Into("I8", Int8Array.of(-3, 0, 7), out);
    expect([...out]).toEqual([-3, 0, 7]);
    toFloat32Into("I64", BigInt64Array.of(-5n, 6n, 7n), out);
    expect([...out]).toEqual([-5, 6, 7]);
    toFloat32Into("F64", Float64Array.of(0.5, -1, 1e300), out);
    expect([...out]).toEqual([0.5, -1, Infinity]);
    expect(() => toFloat32Into("F8_E4M3", Uint8Array.of(1, 2, 3), out)).toThrow(RangeError);
    expect(() => f16ToF32(new Uint16Array(4), out)).toThrow(RangeError);
  });
});
