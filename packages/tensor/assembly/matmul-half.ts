// out[R, N] = x[R, K] · wᵀ (+ bias) with 16-bit float weights w: [N, K] (IEEE half or bfloat16), output
// columns n0 .. n1. A 16-byte load holds 8 weights; as four 32-bit lanes, the high halves are weights
// k+1, k+3, k+5, k+7 and the low halves k, k+2, k+4, k+6, each a float32 after a shift or a mask (bfloat16)
// or after moving the 15 exponent/mantissa bits into place (half: the float32 read is 2^-112 times the value).
// So the activations come prepared (prepareHalves): each group of 8 reordered even k first, then odd k, the
// rest (K mod 8) as is; for half weights also times 2^56, and the sums times 2^56.
import { hsum, madd } from "./common";
import { biasAt } from "./matmul-f32";

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

/** Columns n0 .. n1 of out = x · wᵀ for float16 weights (x prepared with scale 2^56). */
export function matmulF16(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  matmulHalf(out, xp, w, R, N, K, bias, n0, n1, false);
}

/** Columns n0 .. n1 of out = x · wᵀ for bfloat16 weights (x prepared with scale 1). */
export function matmulBF16(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  matmulHalf(out, xp, w, R, N, K, bias, n0, n1, true);
}

/** Weights k, k+2, k+4, k+6 of 8 loaded as four 32-bit lanes, as float32 (halves: 2^-112 times their value). */
@inline function even(v: v128, bf: bool): v128 {
  return bf ? i32x4.shl(v, 16) : v128.and(i32x4.shr_s(i32x4.shl(v, 16), 3), i32x4.splat(<i32>0x8fffe000));
}

/** Weights k+1, k+3, k+5, k+7. */
@inline function odd(v: v128, bf: bool): v128 {
  return bf ? v128.and(v, i32x4.splat(<i32>0xffff0000)) : v128.and(i32x4.shr_s(v, 3), i32x4.splat(<i32>0x8fffe000));
}

/** One weight bit pattern as float32, scaled as the lanes are. */
@inline function one(bits: u32, bf: bool): f32 {
  return bf ? reinterpret<f32>(bits << 16) : reinterpret<f32>(((<i32>(bits << 16)) >> 3) & <i32>0x8fffe000);
}

/** Σ xp[k] · w[k] for the k past the last whole group of 8. */
@inline function tail(xp: usize, w: usize, from: i32, K: i32, bf: bool): f32 {
  let s: f32 = 0;
  for (let k = from; k < K; k++) s += load<f32>(xp + (<usize>k << 2)) * one(load<u16>(w + (<usize>k << 1)), bf);
  return s;
}

@inline function finish(acc: v128, xp: usize, w: usize, K8: i32, K: i32, bias: usize, n: i32, bf: bool): f32 {
  const s = hsum(acc) + tail(xp, w, K8, K, bf);
  return (bf ? s : s * UP) + biasAt(bias, n);
}

@inline function matmulHalf(out: usize, xp: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32, bf: bool): void {
  const K8 = K & ~7;
  const xRow = <usize>K << 2, wRow = <usize>K << 1;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = w + <usize>n * wRow, w1 = w0 + wRow, w2 = w1 + wRow, w3 = w2 + wRow;
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = xp + <usize>r * xRow, x1 = x0 + xRow;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const ox = <usize>k << 2, ow = <usize>k << 1;
        const e0 = v128.load(x0 + ox), o0 = v128.load(x0 + ox + 16);
        const e1 = v128.load(x1 + ox), o1 = v128.load(x1 + ox + 16);
        let v = v128.load(w0 + ow), we = even(v, bf), wo = odd(v, bf);
        a00 = madd(o0, wo, madd(e0, we, a00)); a10 = madd(o1, wo, madd(e1, we, a10));
        v = v128.load(w1 + ow); we = even(v, bf); wo = odd(v, bf);
        a01 = madd(o0, wo, madd(e0, we, a01)); a11 = madd(o1, wo, madd(e1, we, a11));
        v = v128.load(w2 + ow); we = even(v, bf); wo = odd(v, bf);
        a02 = madd(o0, wo, madd(e0, we, a02)); a12 = madd(o1, wo, madd(e1, we, a12));
        v = v128.load(w3 + ow); we = even(v, bf); wo = odd(v, bf);
        a03 = madd(o0, wo, madd(e0, we, a03)); a13 = madd(o1, wo, madd(e1, we, a13));
      }
      const p0 = out + ((<usize>r * N + n) << 2), p1 = p0 + (<usize>N << 2);
      store<f32>(p0, finish(a00, x0, w0, K8, K, bias, n, bf));
      store<f32>(p0 + 4, finish(a01, x0, w1, K8, K, bias, n + 1, bf));
      store<f32>(p0 + 8, finish(a02, x0, w2, K8, K, bias, n + 2, bf));
      store<f32>(p0 + 12, finish(a03, x0, w3, K8, K, bias, n + 3, bf));
      store<f32>(p1, finish(a10, x1, w0, K8, K, bias, n, bf));
      store<f32>(p1 + 4, finish(a11, x1, w1, K8, K, bias, n + 1, bf));
      store<f32>(p1 + 8, finish(a12, x1, w2, K8, K, bias, n + 2, bf));
      store<f32>(p1 + 12, finish(a13, x1, w3, K8, K, bias, n + 3, bf));
    }
    for (; r < R; r++) {
      const x0 = xp + <usize>r * xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const ox = <usize>k << 2, ow = <usize>k << 1;
        const e0 = v128.load(x0 + ox), o0 = v128.load(x0 + ox + 16);
        let v = v128.load(w0 + ow);
        a0 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a0));
        v = v128.load(w1 + ow);
        a1 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a1));
        v = v128.load(w2 + ow);
        a2 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a2));
        v = v128.load(w3 + ow);
        a3 = madd(o0, odd(v, bf), madd(e0, even(v, bf), a3));
      }
      const p0 = out + ((<usize>r * N + n) << 2);
      store<f32>(p0, finish(a0, x0, w0, K8, K, bias, n, bf));
      store<f32>(p0 + 4, finish(a1, x0, w1, K8, K, bias, n + 1, bf));
      store<f32>(p0 + 8, finish(a2, x0, w2, K8, K, bias, n + 2, bf));
      store<f32>(p0 + 12, finish(a3, x0, w3, K8, K, bias, n + 3, bf));
    }
  }
  for (; n < n1; n++) {
    const w0 = w + <usize>n * wRow;
    for (let r = 0; r < R; r++) {
      const x0 = xp + <usize>r * xRow;
      let a = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const v = v128.load(w0 + (<usize>k << 1));
        a = madd(v128.load(x0 + (<usize>k << 2) + 16), odd(v, bf), madd(v128.load(x0 + (<usize>k << 2)), even(v, bf), a));
      }
      store<f32>(out + ((<usize>r * N + n) << 2), finish(a, x0, w0, K8, K, bias, n, bf));
    }
  }
}
