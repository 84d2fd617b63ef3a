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

/** [Σ a, Σ b, Σ c, Σ d] of four f32x4 (a transposing reduction). */
@inline export function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<u32>(a, b, 0, 4, 1, 5), v128.shuffle<u32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<u32>(c, d, 0, 4, 1, 5), v128.shuffle<u32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<u32>(ab, cd, 0, 1, 4, 5), v128.shuffle<u32>(ab, cd, 2, 3, 6, 7));
}

/** [Σ a, Σ b, Σ c, Σ d] of four i32x4. */
@inline export function reduce4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<u32>(a, b, 0, 4, 1, 5), v128.shuffle<u32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<u32>(c, d, 0, 4, 1, 5), v128.shuffle<u32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<u32>(ab, cd, 0, 1, 4, 5), v128.shuffle<u32>(ab, cd, 2, 3, 6, 7));
}

/** The `n` (< 4) floats at p in the low lanes, zeros above: a partial vector read without touching memory past it. */
@inline export function loadPartial(p: usize, n: i32): v128 {
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p + 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p + 8));
  return v;
}

/** bias[n .. n+4) (those below N), zeros without a bias or past N. */
@inline export function biasAt4(bias: usize, n: i32, N: i32): v128 {
  if (bias == 0) return f32x4.splat(0);
  if (n + 4 <= N) return v128.load(bias + (<usize>n << 2));
  return loadPartial(bias + (<usize>n << 2), N - n);
}

/**
 * Whether the product being run adds its outputs into what `out` holds (a residual add in its epilogue) instead of
 * storing them. Set by the interpreter before each product op; a global of this thread's instance (each thread runs
 * its own), so threads running different ops never see each other's.
 */
let accumulating: bool = false;

/** Sets {@link accumulating} for the next product op. */
export function setAccumulating(on: bool): void {
  accumulating = on;
}

/** Stores the lanes of v for outputs n .. n+4 below N at out (outputs n, n+1, ... consecutive). */
@inline export function storeOutputs(out: usize, v: v128, n: i32, N: i32): void {
  if (n + 4 <= N) {
    v128.store(out, accumulating ? f32x4.add(v128.load(out), v) : v);
    return;
  }
  if (accumulating) {
    store<f32>(out, load<f32>(out) + f32x4.extract_lane(v, 0));
    if (n + 1 < N) store<f32>(out + 4, load<f32>(out + 4) + f32x4.extract_lane(v, 1));
    if (n + 2 < N) store<f32>(out + 8, load<f32>(out + 8) + f32x4.extract_lane(v, 2));
    return;
  }
  store<f32>(out, f32x4.extract_lane(v, 0));
  if (n + 1 < N) store<f32>(out + 4, f32x4.extract_lane(v, 1));
  if (n + 2 < N) store<f32>(out + 8, f32x4.extract_lane(v, 2));
}

/** max |x[k]| over the K f32 values at `src` (absmax quantization's range). */
@inline export function absMax(src: usize, K: i32): f32 {
  const K4 = K & ~3;
  let m = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) m = f32x4.max(m, f32x4.abs(v128.load(src + (<usize>k << 2))));
  let amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (let k = K4; k < K; k++) amax = max(amax, abs<f32>(load<f32>(src + (<usize>k << 2))));
  return amax;
}
