// out[R, N] = x[R, K] · wᵀ (+ bias) with 16-bit float weights (IEEE half or bfloat16) w: [N, K], output
// columns n0 .. n1. Eight weights per load are widened to two f32x4; tiles of 2 x-rows × 4 w-rows.
import { bf16Low, bf16High, bf16ToFloat, halfToFloat, halvesHigh, halvesLow, hsum, madd } from "./common";
import { biasAt } from "./matmul-f32";

/** Columns n0 .. n1 of out = x · wᵀ for float16 weights. */
export function matmulF16(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  matmulHalf(out, x, w, R, N, K, bias, n0, n1, false);
}

/** Columns n0 .. n1 of out = x · wᵀ for bfloat16 weights. */
export function matmulBF16(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  matmulHalf(out, x, w, R, N, K, bias, n0, n1, true);
}

@inline function lo(v: v128, bf: bool): v128 {
  return bf ? bf16Low(v) : halvesLow(v);
}

@inline function hi(v: v128, bf: bool): v128 {
  return bf ? bf16High(v) : halvesHigh(v);
}

@inline function one(bits: u32, bf: bool): f32 {
  return bf ? bf16ToFloat(bits) : halfToFloat(bits);
}

/** Σ x[k] · w[k] for k in from .. K. */
@inline function tail(x: usize, w: usize, from: i32, K: i32, bf: bool): f32 {
  let s: f32 = 0;
  for (let k = from; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * one(load<u16>(w + (<usize>k << 1)), bf);
  return s;
}

@inline function matmulHalf(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32, bf: bool): void {
  const K8 = K & ~7;
  const xRow = <usize>K << 2, wRow = <usize>K << 1;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = w + <usize>n * wRow, w1 = w0 + wRow, w2 = w1 + wRow, w3 = w2 + wRow;
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = x + <usize>r * xRow, x1 = x0 + xRow;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const ox = <usize>k << 2, ow = <usize>k << 1;
        const u0 = v128.load(x0 + ox), u1 = v128.load(x0 + ox + 16);
        const v0 = v128.load(x1 + ox), v1 = v128.load(x1 + ox + 16);
        let wv = v128.load(w0 + ow);
        let wl = lo(wv, bf), wh = hi(wv, bf);
        a00 = madd(u1, wh, madd(u0, wl, a00)); a10 = madd(v1, wh, madd(v0, wl, a10));
        wv = v128.load(w1 + ow); wl = lo(wv, bf); wh = hi(wv, bf);
        a01 = madd(u1, wh, madd(u0, wl, a01)); a11 = madd(v1, wh, madd(v0, wl, a11));
        wv = v128.load(w2 + ow); wl = lo(wv, bf); wh = hi(wv, bf);
        a02 = madd(u1, wh, madd(u0, wl, a02)); a12 = madd(v1, wh, madd(v0, wl, a12));
        wv = v128.load(w3 + ow); wl = lo(wv, bf); wh = hi(wv, bf);
        a03 = madd(u1, wh, madd(u0, wl, a03)); a13 = madd(v1, wh, madd(v0, wl, a13));
      }
      const o0 = out + ((<usize>r * N + n) << 2), o1 = o0 + (<usize>N << 2);
      store<f32>(o0, hsum(a00) + tail(x0, w0, K8, K, bf) + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a01) + tail(x0, w1, K8, K, bf) + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a02) + tail(x0, w2, K8, K, bf) + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a03) + tail(x0, w3, K8, K, bf) + biasAt(bias, n + 3));
      store<f32>(o1, hsum(a10) + tail(x1, w0, K8, K, bf) + biasAt(bias, n));
      store<f32>(o1 + 4, hsum(a11) + tail(x1, w1, K8, K, bf) + biasAt(bias, n + 1));
      store<f32>(o1 + 8, hsum(a12) + tail(x1, w2, K8, K, bf) + biasAt(bias, n + 2));
      store<f32>(o1 + 12, hsum(a13) + tail(x1, w3, K8, K, bf) + biasAt(bias, n + 3));
    }
    for (; r < R; r++) {
      const x0 = x + <usize>r * xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const ox = <usize>k << 2, ow = <usize>k << 1;
        const u0 = v128.load(x0 + ox), u1 = v128.load(x0 + ox + 16);
        let wv = v128.load(w0 + ow);
        a0 = madd(u1, hi(wv, bf), madd(u0, lo(wv, bf), a0));
        wv = v128.load(w1 + ow);
        a1 = madd(u1, hi(wv, bf), madd(u0, lo(wv, bf), a1));
        wv = v128.load(w2 + ow);
        a2 = madd(u1, hi(wv, bf), madd(u0, lo(wv, bf), a2));
        wv = v128.load(w3 + ow);
        a3 = madd(u1, hi(wv, bf), madd(u0, lo(wv, bf), a3));
      }
      const o0 = out + ((<usize>r * N + n) << 2);
      store<f32>(o0, hsum(a0) + tail(x0, w0, K8, K, bf) + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a1) + tail(x0, w1, K8, K, bf) + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a2) + tail(x0, w2, K8, K, bf) + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a3) + tail(x0, w3, K8, K, bf) + biasAt(bias, n + 3));
    }
  }
  for (; n < n1; n++) {
    const w0 = w + <usize>n * wRow;
    for (let r = 0; r < R; r++) {
      const x0 = x + <usize>r * xRow;
      let a = f32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const wv = v128.load(w0 + (<usize>k << 1));
        a = madd(v128.load(x0 + (<usize>k << 2) + 16), hi(wv, bf), madd(v128.load(x0 + (<usize>k << 2)), lo(wv, bf), a));
      }
      store<f32>(out + ((<usize>r * N + n) << 2), hsum(a) + tail(x0, w0, K8, K, bf) + biasAt(bias, n));
    }
  }
}
