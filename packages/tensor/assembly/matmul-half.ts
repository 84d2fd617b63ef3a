// out[R, N] = x[R, K] · wᵀ (+ bias) with 16-bit float weights (IEEE half or bfloat16) in the tiled layout (src/
// formats.ts: tiles of 4 rows, chunks of 8 values, 64 bytes per tile-chunk), output columns n0 .. n1. A row's
// 16-byte piece holds 8 weights; as four 32-bit lanes, the high halves are weights k+1, k+3, k+5, k+7 and the
// low halves k, k+2, k+4, k+6, each a float32 after a shift or a mask (bfloat16) or after moving the 15
// exponent/mantissa bits into place (half: the float32 read is 2^-112 times the value). So the activations come
// prepared (prepareHalves): each group of 8 reordered even k first, then odd k, the rest (K mod 8) as is; for
// half weights also times 2^56, and the sums times 2^56.
// From UNPACK_ROWS activation rows on (prefill, batched decode) the kernel instead widens each tile once to float32
// in per-thread scratch (the float32 tiled layout, exact) and runs the float32 register tile over every row: the
// conversion is paid once per tile, not once per pair of rows, and the activations are read as they are.
import { biasAt4, madd, reduce4, storeOutputs } from "./common";
import { tileRows } from "./matmul-f32";

/** Activation rows from which a tile is widened to float32 once (x then comes unprepared). */
export const UNPACK_ROWS: i32 = 4;

/** The 16-bit tile at t ([4, K] in chunks of 8) as the float32 tile at dst ([4, K] in ceil(K / 4) chunks of 4), exactly. */
@inline function widenTile(dst: usize, t: usize, K: i32, bf: bool): void {
  const chunks4 = (K + 3) >> 2;
  for (let c = 0; c < chunks4; c += 2, t += 64, dst += 128) {
    for (let i: usize = 0; i < 64; i += 16) {
      const v = v128.load(t + i);
      v128.store(dst + i, widen4(i32x4.extend_low_i16x8_s(v), bf));
      if (c + 1 < chunks4) v128.store(dst + 64 + i, widen4(i32x4.extend_high_i16x8_s(v), bf));
    }
  }
}

/** Four sign-extended 16-bit patterns as float32: bfloat16 shifted into place, IEEE half as halfToFloat does. */
@inline function widen4(e: v128, bf: bool): v128 {
  if (bf) return i32x4.shl(e, 16);
  return f32x4.mul(v128.and(i32x4.shl(e, 13), i32x4.splat(<i32>0x8fffe000)), f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** Rows r0 .. r1 of x ([R, K]) into xp ([R, K]): groups of 8 as x0 x2 x4 x6 x1 x3 x5 x7, times `scale`. */
export function prepareHalves(xp: usize, x: usize, K: i32, scale: f32, r0: i32, r1: i32): void {
  const K8 = K & ~7;
  const s = f32x4.splat(scale);
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * K << 2), dst = xp + (<usize>r * K << 2);
    for (let k = 0; k < K8; k += 8) {
      const a = v128.load(src + (<usize>k << 2)), b = v128.load(src + (<usize>k << 2) + 16);
      v128.store(dst + (<usize>k << 2), f32x4.mul(v128.shuffle<u32>(a, b, 0, 2, 4, 6), s));
      v128.store(dst + (<usize>k << 2) + 16, f32x4.mul(v128.shuffle<u32>(a, b, 1, 3, 5, 7), s));
    }
    for (let k = K8; k < K; k++) store<f32>(dst + (<usize>k << 2), load<f32>(src + (<usize>k << 2)) * scale);
  }
}

/** 2^56: half weights read as float32 are 2^-112 times their value, so activations are prepared times 2^56 and sums scaled by 2^56. */
const UP: f32 = 72057594037927936.0;

/** Columns n0 .. n1 of out = x · wᵀ for float16 weights (x prepared with scale 2^56 below UNPACK_ROWS rows, else as is). */
export function matmulF16(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, tmp: usize, n0: i32, n1: i32): void {
  if (R >= UNPACK_ROWS) matmulWidened(out, xp, w, R, N, K, bias, tmp, n0, n1, false);
  else matmulHalf(out, xp, w, R, N, K, bias, n0, n1, false);
}

/** Columns n0 .. n1 of out = x · wᵀ for bfloat16 weights (x prepared with scale 1 below UNPACK_ROWS rows, else as is). */
export function matmulBF16(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, tmp: usize, n0: i32, n1: i32): void {
  if (R >= UNPACK_ROWS) matmulWidened(out, xp, w, R, N, K, bias, tmp, n0, n1, true);
  else matmulHalf(out, xp, w, R, N, K, bias, n0, n1, true);
}

/** Each tile widened into `tmp` (16·K bytes, K padded to 8), then the float32 register tile over every row of x. */
@inline function matmulWidened(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, tmp: usize, n0: i32, n1: i32, bf: bool): void {
  const tileBytes = <usize>((K + 7) >> 3) * 64;
  for (let n = n0; n < n1; n += 4) {
    widenTile(tmp, w + <usize>(n >> 2) * tileBytes, K, bf);
    tileRows(out, x, tmp, R, N, K, biasAt4(bias, n, N), n);
  }
}

/** Weights k, k+2, k+4, k+6 of a piece of 8 loaded as four 32-bit lanes, as float32 (halves: 2^-112 times their value). */
@inline function even(v: v128, bf: bool): v128 {
  return bf ? i32x4.shl(v, 16) : v128.and(i32x4.shr_s(i32x4.shl(v, 16), 3), i32x4.splat(<i32>0x8fffe000));
}

/** Weights k+1, k+3, k+5, k+7. */
@inline function odd(v: v128, bf: bool): v128 {
  return bf ? v128.and(v, i32x4.splat(<i32>0xffff0000)) : v128.and(i32x4.shr_s(v, 3), i32x4.splat(<i32>0x8fffe000));
}

/** The prepared tail (K mod 8 values in natural order at p) as the even and odd lanes a piece is read as. */
@inline function tailEven(p: usize, tail: i32): v128 {
  let v = f32x4.splat(0);
  if (tail > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (tail > 2) v = f32x4.replace_lane(v, 1, load<f32>(p + 8));
  if (tail > 4) v = f32x4.replace_lane(v, 2, load<f32>(p + 16));
  if (tail > 6) v = f32x4.replace_lane(v, 3, load<f32>(p + 24));
  return v;
}

@inline function tailOdd(p: usize, tail: i32): v128 {
  let v = f32x4.splat(0);
  if (tail > 1) v = f32x4.replace_lane(v, 0, load<f32>(p + 4));
  if (tail > 3) v = f32x4.replace_lane(v, 1, load<f32>(p + 12));
  if (tail > 5) v = f32x4.replace_lane(v, 2, load<f32>(p + 20));
  return v;
}

@inline function matmulHalf(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32, bf: bool): void {
  const K8 = K & ~7, tail = K - K8;
  const tileBytes = <usize>((K + 7) >> 3) * 64;
  const xRow = <usize>K << 2;
  const up = f32x4.splat(bf ? 1 : UP);
  for (let n = n0; n < n1; n += 4) {
    const t = w + <usize>(n >> 2) * tileBytes;
    const b = biasAt4(bias, n, N);
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = xp + <usize>r * xRow, x1 = x0 + xRow;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      let p = t;
      for (let k = 0; k < K8; k += 8, p += 64) {
        const ox = <usize>k << 2;
        const e0 = v128.load(x0 + ox), o0 = v128.load(x0 + ox + 16), e1 = v128.load(x1 + ox), o1 = v128.load(x1 + ox + 16);
        let v = v128.load(p), we = even(v, bf), wo = odd(v, bf);
        a00 = madd(o0, wo, madd(e0, we, a00)); a10 = madd(o1, wo, madd(e1, we, a10));
        v = v128.load(p + 16); we = even(v, bf); wo = odd(v, bf);
        a01 = madd(o0, wo, madd(e0, we, a01)); a11 = madd(o1, wo, madd(e1, we, a11));
        v = v128.load(p + 32); we = even(v, bf); wo = odd(v, bf);
        a02 = madd(o0, wo, madd(e0, we, a02)); a12 = madd(o1, wo, madd(e1, we, a12));
        v = v128.load(p + 48); we = even(v, bf); wo = odd(v, bf);
        a03 = madd(o0, wo, madd(e0, we, a03)); a13 = madd(o1, wo, madd(e1, we, a13));
      }
      if (tail > 0) {
        const ox = <usize>K8 << 2;
        const e0 = tailEven(x0 + ox, tail), o0 = tailOdd(x0 + ox, tail), e1 = tailEven(x1 + ox, tail), o1 = tailOdd(x1 + ox, tail);
        let v = v128.load(p), we = even(v, bf), wo = odd(v, bf);
        a00 = madd(o0, wo, madd(e0, we, a00)); a10 = madd(o1, wo, madd(e1, we, a10));
        v = v128.load(p + 16); we = even(v, bf); wo = odd(v, bf);
        a01 = madd(o0, wo, madd(e0, we, a01)); a11 = madd(o1, wo, madd(e1, we, a11));
        v = v128.load(p + 32); we = even(v, bf); wo = odd(v, bf);
        a02 = madd(o0, wo, madd(e0, we, a02)); a12 = madd(o1, wo, madd(e1, we, a12));
        v = v128.load(p + 48); we = even(v, bf); wo = odd(v, bf);
        a03 = madd(o0, wo, madd(e0, we, a03)); a13 = madd(o1, wo, madd(e1, we, a13));
      }
      const o = out + ((<usize>r * N + n) << 2);
      storeOutputs(o, f32x4.add(f32x4.mul(reduce4(a00, a01, a02, a03), up), b), n, N);
      storeOutputs(o + (<usize>N << 2), f32x4.add(f32x4.mul(reduce4(a10, a11, a12, a13), up), b), n, N);
    }
    for (; r < R; r++) {
      const x0 = xp + <usize>r * xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let p = t;
      for (let k = 0; k < K8; k += 8, p += 64) {
        const ox = <usize>k << 2;
        const e0 = v128.load(x0 + ox), o0 = v128.load(x0 + ox + 16);
        let v = v128.load(p);
        a0 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a0));
        v = v128.load(p + 16);
        a1 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a1));
        v = v128.load(p + 32);
        a2 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a2));
        v = v128.load(p + 48);
        a3 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a3));
      }
      if (tail > 0) {
        const e0 = tailEven(x0 + (<usize>K8 << 2), tail), o0 = tailOdd(x0 + (<usize>K8 << 2), tail);
        let v = v128.load(p);
        a0 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a0));
        v = v128.load(p + 16);
        a1 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a1));
        v = v128.load(p + 32);
        a2 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a2));
        v = v128.load(p + 48);
        a3 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a3));
      }
      storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(f32x4.mul(reduce4(a0, a1, a2, a3), up), b), n, N);
    }
  }
}
