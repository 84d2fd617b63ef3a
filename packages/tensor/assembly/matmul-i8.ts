// int8 weights with per-block f32 scales (blocks of 32 along K, rows padded to Kp = a multiple of 32) times
// activations quantized to int8 per row and held as i16 (quantizeRows): integer dot products per block,
// accumulated in i32, then scaled into f32 accumulators; out = Σ_b s_w[n, b] · (x_q · w_q)_b · s_x[r] (+ bias).
import { hsum, madd } from "./common";
import { biasAt } from "./matmul-f32";

/** Values per int8 block (one scale each). */
export const BLOCK: i32 = 32;

/**
 * Rows r0 .. r1 of x ([R, K] f32) quantized to int8 by absmax, stored widened to i16 in xq ([R, Kp], zeros past
 * K), with each row's scale max|x| / 127 in xs.
 */
export function quantizeRows(xq: usize, xs: usize, x: usize, K: i32, Kp: i32, r0: i32, r1: i32): void {
  const K8 = K & ~7;
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * K << 2);
    const dst = xq + (<usize>r * Kp << 1);
    let m = f32x4.splat(0);
    for (let k = 0; k < K8; k += 4) m = f32x4.max(m, f32x4.abs(v128.load(src + (<usize>k << 2))));
    let amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    for (let k = K8; k < K; k++) amax = max(amax, abs<f32>(load<f32>(src + (<usize>k << 2))));
    const inv: f32 = amax == 0 ? 0 : <f32>127 / amax;
    store<f32>(xs + (<usize>r << 2), amax / <f32>127);
    const iv = f32x4.splat(inv);
    for (let k = 0; k < K8; k += 8) {
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>k << 2)), iv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(src + (<usize>k << 2) + 16), iv)));
      v128.store(dst + (<usize>k << 1), i16x8.narrow_i32x4_s(a, b));
    }
    for (let k = K8; k < Kp; k++) {
      const v: f32 = k < K ? nearest<f32>(load<f32>(src + (<usize>k << 2)) * inv) : 0;
      store<i16>(dst + (<usize>k << 1), <i16><i32>v);
    }
  }
}

/** Columns n0 .. n1 of out = x · wᵀ for int8 weights w ([N, Kp] i8) with scales ws ([N, Kp / 32] f32). */
export function matmulI8(out: usize, xq: usize, xs: usize, w: usize, ws: usize, R: i32, N: i32, Kp: i32, bias: usize, n0: i32, n1: i32): void {
  const blocks = Kp / BLOCK;
  const xRow = <usize>Kp << 1, wRow = <usize>Kp, sRow = <usize>blocks << 2;
  let n = n0;
  for (; n + 4 <= n1; n += 4) {
    const w0 = w + <usize>n * wRow, w1 = w0 + wRow, w2 = w1 + wRow, w3 = w2 + wRow;
    const s0 = ws + <usize>n * sRow, s1 = s0 + sRow, s2 = s1 + sRow, s3 = s2 + sRow;
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = xq + <usize>r * xRow, x1 = x0 + xRow;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const ox = <usize>(b * BLOCK) << 1, ow = <usize>(b * BLOCK);
        const p0 = v128.load(x0 + ox), p1 = v128.load(x0 + ox + 16), p2 = v128.load(x0 + ox + 32), p3 = v128.load(x0 + ox + 48);
        const q0 = v128.load(x1 + ox), q1 = v128.load(x1 + ox + 16), q2 = v128.load(x1 + ox + 32), q3 = v128.load(x1 + ox + 48);
        let i0 = i32x4.splat(0), i1 = i32x4.splat(0);
        let wa = v128.load(w0 + ow), wb = v128.load(w0 + ow + 16);
        let l = i16x8.extend_low_i8x16_s(wa), h = i16x8.extend_high_i8x16_s(wa), l2 = i16x8.extend_low_i8x16_s(wb), h2 = i16x8.extend_high_i8x16_s(wb);
        i0 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, p0), i32x4.dot_i16x8_s(h, p1)), i32x4.add(i32x4.dot_i16x8_s(l2, p2), i32x4.dot_i16x8_s(h2, p3)));
        i1 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, q0), i32x4.dot_i16x8_s(h, q1)), i32x4.add(i32x4.dot_i16x8_s(l2, q2), i32x4.dot_i16x8_s(h2, q3)));
        let sc = v128.load32_splat(s0 + (<usize>b << 2));
        a00 = madd(f32x4.convert_i32x4_s(i0), sc, a00); a10 = madd(f32x4.convert_i32x4_s(i1), sc, a10);
        wa = v128.load(w1 + ow); wb = v128.load(w1 + ow + 16);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        i0 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, p0), i32x4.dot_i16x8_s(h, p1)), i32x4.add(i32x4.dot_i16x8_s(l2, p2), i32x4.dot_i16x8_s(h2, p3)));
        i1 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, q0), i32x4.dot_i16x8_s(h, q1)), i32x4.add(i32x4.dot_i16x8_s(l2, q2), i32x4.dot_i16x8_s(h2, q3)));
        sc = v128.load32_splat(s1 + (<usize>b << 2));
        a01 = madd(f32x4.convert_i32x4_s(i0), sc, a01); a11 = madd(f32x4.convert_i32x4_s(i1), sc, a11);
        wa = v128.load(w2 + ow); wb = v128.load(w2 + ow + 16);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        i0 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, p0), i32x4.dot_i16x8_s(h, p1)), i32x4.add(i32x4.dot_i16x8_s(l2, p2), i32x4.dot_i16x8_s(h2, p3)));
        i1 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, q0), i32x4.dot_i16x8_s(h, q1)), i32x4.add(i32x4.dot_i16x8_s(l2, q2), i32x4.dot_i16x8_s(h2, q3)));
        sc = v128.load32_splat(s2 + (<usize>b << 2));
        a02 = madd(f32x4.convert_i32x4_s(i0), sc, a02); a12 = madd(f32x4.convert_i32x4_s(i1), sc, a12);
        wa = v128.load(w3 + ow); wb = v128.load(w3 + ow + 16);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        i0 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, p0), i32x4.dot_i16x8_s(h, p1)), i32x4.add(i32x4.dot_i16x8_s(l2, p2), i32x4.dot_i16x8_s(h2, p3)));
        i1 = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, q0), i32x4.dot_i16x8_s(h, q1)), i32x4.add(i32x4.dot_i16x8_s(l2, q2), i32x4.dot_i16x8_s(h2, q3)));
        sc = v128.load32_splat(s3 + (<usize>b << 2));
        a03 = madd(f32x4.convert_i32x4_s(i0), sc, a03); a13 = madd(f32x4.convert_i32x4_s(i1), sc, a13);
      }
      const sx0 = load<f32>(xs + (<usize>r << 2)), sx1 = load<f32>(xs + (<usize>(r + 1) << 2));
      const o0 = out + ((<usize>r * N + n) << 2), o1 = o0 + (<usize>N << 2);
      store<f32>(o0, hsum(a00) * sx0 + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a01) * sx0 + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a02) * sx0 + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a03) * sx0 + biasAt(bias, n + 3));
      store<f32>(o1, hsum(a10) * sx1 + biasAt(bias, n));
      store<f32>(o1 + 4, hsum(a11) * sx1 + biasAt(bias, n + 1));
      store<f32>(o1 + 8, hsum(a12) * sx1 + biasAt(bias, n + 2));
      store<f32>(o1 + 12, hsum(a13) * sx1 + biasAt(bias, n + 3));
    }
    for (; r < R; r++) {
      const x0 = xq + <usize>r * xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const ox = <usize>(b * BLOCK) << 1, ow = <usize>(b * BLOCK);
        const p0 = v128.load(x0 + ox), p1 = v128.load(x0 + ox + 16), p2 = v128.load(x0 + ox + 32), p3 = v128.load(x0 + ox + 48);
        a0 = madd(f32x4.convert_i32x4_s(blockDot(w0 + ow, p0, p1, p2, p3)), v128.load32_splat(s0 + (<usize>b << 2)), a0);
        a1 = madd(f32x4.convert_i32x4_s(blockDot(w1 + ow, p0, p1, p2, p3)), v128.load32_splat(s1 + (<usize>b << 2)), a1);
        a2 = madd(f32x4.convert_i32x4_s(blockDot(w2 + ow, p0, p1, p2, p3)), v128.load32_splat(s2 + (<usize>b << 2)), a2);
        a3 = madd(f32x4.convert_i32x4_s(blockDot(w3 + ow, p0, p1, p2, p3)), v128.load32_splat(s3 + (<usize>b << 2)), a3);
      }
      const sx = load<f32>(xs + (<usize>r << 2));
      const o0 = out + ((<usize>r * N + n) << 2);
      store<f32>(o0, hsum(a0) * sx + biasAt(bias, n));
      store<f32>(o0 + 4, hsum(a1) * sx + biasAt(bias, n + 1));
      store<f32>(o0 + 8, hsum(a2) * sx + biasAt(bias, n + 2));
      store<f32>(o0 + 12, hsum(a3) * sx + biasAt(bias, n + 3));
    }
  }
  for (; n < n1; n++) {
    const w0 = w + <usize>n * wRow, s0 = ws + <usize>n * sRow;
    for (let r = 0; r < R; r++) {
      const x0 = xq + <usize>r * xRow;
      let a = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const ox = <usize>(b * BLOCK) << 1;
        const d = blockDot(w0 + <usize>(b * BLOCK), v128.load(x0 + ox), v128.load(x0 + ox + 16), v128.load(x0 + ox + 32), v128.load(x0 + ox + 48));
        a = madd(f32x4.convert_i32x4_s(d), v128.load32_splat(s0 + (<usize>b << 2)), a);
      }
      store<f32>(out + ((<usize>r * N + n) << 2), hsum(a) * load<f32>(xs + (<usize>r << 2)) + biasAt(bias, n));
    }
  }
}

/** Lane-wise partial sums of one 32-value block: w (32 i8 at `w`) · x (four i16x8). */
@inline function blockDot(w: usize, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const wa = v128.load(w), wb = v128.load(w + 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wa), p0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wa), p1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wb), p2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wb), p3)),
  );
}
