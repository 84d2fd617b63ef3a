// Shared helpers of the kernels: work splitting between threads and horizontal sums.

/** First index of thread `tid`'s share of `total` items, shares rounded up to multiples of `align`. */
@inline export function shareStart(total: i32, tid: i32, nth: i32, align: i32): i32 {
  const per = ((total + nth * align - 1) / (nth * align)) * align;
  return min(total, tid * per);
}

/** One past the last index of thread `tid`'s share (see {@link shareStart}). */
@inline export function shareEnd(total: i32, tid: i32, nth: i32, align: i32): i32 {
  const per = ((total + nth * align - 1) / (nth * align)) * align;
  return min(total, (tid + 1) * per);
}

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

/** Four halves (the low or high 4 of an i16x8 of f16 bit patterns) as an f32x4; see {@link halfToFloat}. */
@inline export function halvesLow(w: v128): v128 {
  const bits = v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(w), 13), i32x4.splat(<i32>0x8fffe000));
  return f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** The high four halves of an i16x8 as an f32x4. */
@inline export function halvesHigh(w: v128): v128 {
  const bits = v128.and(i32x4.shl(i32x4.extend_high_i16x8_s(w), 13), i32x4.splat(<i32>0x8fffe000));
  return f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** The low four bfloat16 of an i16x8 as an f32x4. */
@inline export function bf16Low(w: v128): v128 {
  return v128.shuffle<u8>(i32x4.splat(0), w, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}

/** The high four bfloat16 of an i16x8 as an f32x4. */
@inline export function bf16High(w: v128): v128 {
  return v128.shuffle<u8>(i32x4.splat(0), w, 0, 1, 24, 25, 2, 3, 26, 27, 4, 5, 28, 29, 6, 7, 30, 31);
}
