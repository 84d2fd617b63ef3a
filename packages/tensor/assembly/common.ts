// Shared helpers of the kernels: horizontal sums, multiply-add, 16-bit float conversions.

/** a0 + a1 + a2 + a3 of an f32x4. */
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<u32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<u32>(s, s, 1, 0, 3, 2)), 0);
}

/** Fused multiply-add where the build has relaxed SIMD, else multiply then add: a · b + c. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Float value of one IEEE half bit pattern (normal, subnormal and zero; inf/NaN are not expected in weights). */
@inline export function halfToFloat(h: u32): f32 {
  const s = <i32>(<i16>h);                                 // sign-extended
  const bits = (s << 13) & <i32>0x8fffe000;
  return reinterpret<f32>(bits) * reinterpret<f32>(0x77800000); // 2^112 rebias (exact for subnormals too)
}

/** Float value of one bfloat16 bit pattern. */
@inline export function bf16ToFloat(b: u32): f32 {
  return reinterpret<f32>(b << 16);
}
