// out[R, N] = x[R, K] · wᵀ (+ bias) with float32 weights w: [N, K], rows n0 .. n1 of the output's columns.
// Register tiles: 2 rows of x × 4 rows of w (8 f32x4 accumulators along K), then 1 × 4, then single dots.
import { hsum, madd } from "./common";

/** Columns n0 .. n1 of out = x · wᵀ (+ bias when `bias` ≠ 0). */
export function matmulF32(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  const K4 = K & ~3;
  const rowBytes = <usize>K << 2;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = w + <usize>n * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = x + <usize>r * rowBytes, x1 = x0 + rowBytes;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const v0 = v128.load(x0 + o), v1 = v128.load(x1 + o);
        let wv = v128.load(w0 + o);
        a00 = madd(v0, wv, a00); a10 = madd(v1, wv, a10);
        wv = v128.load(w1 + o);
        a01 = madd(v0, wv, a01); a11 = madd(v1, wv, a11);
        wv = v128.load(w2 + o);
        a02 = madd(v0, wv, a02); a12 = madd(v1, wv, a12);
        wv = v128.load(w3 + o);
        a03 = madd(v0, wv, a03); a13 = madd(v1, wv, a13);
      }
      const o0 = out + ((<usize>r * N + n) << 2), o1 = o0 + (<usize>N << 2);
      store<f32>(o0, hsum(a00) + tail(x0, w0, K4, K) + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a01) + tail(x0, w1, K4, K) + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a02) + tail(x0, w2, K4, K) + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a03) + tail(x0, w3, K4, K) + biasAt(bias, n + 3));
      store<f32>(o1, hsum(a10) + tail(x1, w0, K4, K) + biasAt(bias, n));
      store<f32>(o1 + 4, hsum(a11) + tail(x1, w1, K4, K) + biasAt(bias, n + 1));
      store<f32>(o1 + 8, hsum(a12) + tail(x1, w2, K4, K) + biasAt(bias, n + 2));
      store<f32>(o1 + 12, hsum(a13) + tail(x1, w3, K4, K) + biasAt(bias, n + 3));
    }
    for (; r < R; r++) {
      const x0 = x + <usize>r * rowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const v0 = v128.load(x0 + o);
        a0 = madd(v0, v128.load(w0 + o), a0);
        a1 = madd(v0, v128.load(w1 + o), a1);
        a2 = madd(v0, v128.load(w2 + o), a2);
        a3 = madd(v0, v128.load(w3 + o), a3);
      }
      const o0 = out + ((<usize>r * N + n) << 2);
      store<f32>(o0, hsum(a0) + tail(x0, w0, K4, K) + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a1) + tail(x0, w1, K4, K) + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a2) + tail(x0, w2, K4, K) + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a3) + tail(x0, w3, K4, K) + biasAt(bias, n + 3));
    }
  }
  for (; n < n1; n++) {
    const w0 = w + <usize>n * rowBytes;
    for (let r = 0; r < R; r++) {
      const x0 = x + <usize>r * rowBytes;
      let a = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) a = madd(v128.load(x0 + (<usize>k << 2)), v128.load(w0 + (<usize>k << 2)), a);
      store<f32>(out + ((<usize>r * N + n) << 2), hsum(a) + tail(x0, w0, K4, K) + biasAt(bias, n));
    }
  }
}

/** Σ x[k] · w[k] for k in from .. K (the part past the last whole vector). */
@inline function tail(x: usize, w: usize, from: i32, K: i32): f32 {
  let s: f32 = 0;
  for (let k = from; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  return s;
}

/** bias[n], or 0 without a bias. */
@inline export function biasAt(bias: usize, n: i32): f32 {
  return bias == 0 ? 0 : load<f32>(bias + (<usize>n << 2));
}
