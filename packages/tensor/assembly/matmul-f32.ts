// out[R, N] = x[R, K] · wᵀ (+ bias) with float32 weights in the tiled layout (src/formats.ts: tiles of 4 rows,
// chunks of 4 values, 64 bytes per tile-chunk, read as one stream), output columns n0 .. n1 (n0 a multiple of 4).
// Register tile (f32-gemm-2x4): 2 rows of x × one tile's 4 outputs, 8 f32x4 accumulators (lanes along K) held
// across the whole K loop, so each weight vector loaded serves both rows and each activation vector all 4
// outputs; then 1 × 4 for an odd last row. On x64 that is the widest tile V8 keeps in its 16 vector registers
// (3 × 4 and 4 × 4 spill and run at half the rate); over 128 rows it runs at about 0.95 of the peak `measurePeak` finds.
import { biasAt4, loadPartial, madd, reduce4, storeOutputs } from "./common";

/** Columns n0 .. n1 of out = x · wᵀ (+ bias when `bias` ≠ 0). */
export function matmulF32(out: usize, x: usize, w: usize, R: i32, N: i32, K: i32, bias: usize, n0: i32, n1: i32): void {
  const tileBytes = <usize>((K + 3) >> 2) * 64;
  for (let n = n0; n < n1; n += 4) tileRows(out, x, w + <usize>(n >> 2) * tileBytes, R, N, K, biasAt4(bias, n, N), n);
}

/** Outputs n .. n+4 of every row of out = x · wᵀ + b from one float32 tile at t ([4, K] in chunks of 4 values). */
@inline export function tileRows(out: usize, x: usize, t: usize, R: i32, N: i32, K: i32, b: v128, n: i32): void {
  const K4 = K & ~3, tail = K - K4;
  const xRow = <usize>K << 2;
  let r = 0;
  for (; r + 2 <= R; r += 2) {
    const x0 = x + <usize>r * xRow, x1 = x0 + xRow;
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
    let p = t;
    for (let k = 0; k < K4; k += 4, p += 64) {
      const o = <usize>k << 2;
      const v0 = v128.load(x0 + o), v1 = v128.load(x1 + o);
      let wv = v128.load(p);
      a00 = madd(v0, wv, a00); a10 = madd(v1, wv, a10);
      wv = v128.load(p + 16);
      a01 = madd(v0, wv, a01); a11 = madd(v1, wv, a11);
      wv = v128.load(p + 32);
      a02 = madd(v0, wv, a02); a12 = madd(v1, wv, a12);
      wv = v128.load(p + 48);
      a03 = madd(v0, wv, a03); a13 = madd(v1, wv, a13);
    }
    if (tail > 0) {                                          // the last chunk: x read lane by lane, weights zero padded
      const v0 = loadPartial(x0 + (<usize>K4 << 2), tail), v1 = loadPartial(x1 + (<usize>K4 << 2), tail);
      let wv = v128.load(p);
      a00 = madd(v0, wv, a00); a10 = madd(v1, wv, a10);
      wv = v128.load(p + 16);
      a01 = madd(v0, wv, a01); a11 = madd(v1, wv, a11);
      wv = v128.load(p + 32);
      a02 = madd(v0, wv, a02); a12 = madd(v1, wv, a12);
      wv = v128.load(p + 48);
      a03 = madd(v0, wv, a03); a13 = madd(v1, wv, a13);
    }
    const o0 = out + ((<usize>r * N + n) << 2);
    storeOutputs(o0, f32x4.add(reduce4(a00, a01, a02, a03), b), n, N);
    storeOutputs(o0 + (<usize>N << 2), f32x4.add(reduce4(a10, a11, a12, a13), b), n, N);
  }
  for (; r < R; r++) {
    const x0 = x + <usize>r * xRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let p = t;
    for (let k = 0; k < K4; k += 4, p += 64) {
      const v0 = v128.load(x0 + (<usize>k << 2));
      a0 = madd(v0, v128.load(p), a0);
      a1 = madd(v0, v128.load(p + 16), a1);
      a2 = madd(v0, v128.load(p + 32), a2);
      a3 = madd(v0, v128.load(p + 48), a3);
    }
    if (tail > 0) {
      const v0 = loadPartial(x0 + (<usize>K4 << 2), tail);
      a0 = madd(v0, v128.load(p), a0);
      a1 = madd(v0, v128.load(p + 16), a1);
      a2 = madd(v0, v128.load(p + 32), a2);
      a3 = madd(v0, v128.load(p + 48), a3);
    }
    storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(reduce4(a0, a1, a2, a3), b), n, N);
  }
}
