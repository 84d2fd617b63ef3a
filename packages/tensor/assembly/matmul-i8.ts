// int8 weights in the tiled layout (src/formats.ts: per tile of 4 rows and block of 32, the 4 scales then the
// 4 rows' 32 values, 144 bytes) times activations quantized to int8 per row and held as i16 (quantizeRows):
// integer dot products per block, accumulated in i32, reduced across the tile's rows, scaled into one f32x4 of
// the 4 outputs: out = Σ_b s_w[n, b] · (x_q · w_q)_b · s_x[r] (+ bias).
// Below UNPACK_ROWS activation rows (decode) the weights are widened to i16 as they are read: 2 × 4 tiles, then
// 1 × 4. From UNPACK_ROWS rows on (prefill, batched decode; i8-gemm-2x4) each tile is widened once into per-thread
// scratch, and two rows at a time run over it with the 8 i32x4 sums of a block held in registers, each widened
// weight vector serving both rows and each activation vector the tile's 4 outputs; the horizontal reduction and the
// block's scales are applied once per block. That runs at about half the i16 dot-product peak `measurePeak` finds
// (the per-block reduction, 9 shuffles and adds per row and block, and the activation loads cost the rest; ternary,
// one scale per matrix, has no per-block reduction).
import { absMax, biasAt4, madd, reduce4i, storeOutputs } from "./common";

/** Activation rows from which a tile is widened once into scratch (assembly/index.ts passes `tmp`; 8.5·Kp bytes). */
export const UNPACK_ROWS: i32 = 4;
/** Bytes of one widened (tile, block): the 4 scales, then the 4 rows' 32 values as i16. */
const WIDE: usize = 272;

/** Values per int8 block (one scale each). */
export const BLOCK: i32 = 32;
/** Bytes of one (tile, block) group: 4 scales and 4 rows of 32. */
const GROUP: usize = 144;

/**
 * Rows r0 .. r1 of x ([R, K] f32) quantized to int8 by absmax, stored widened to i16 in xq ([R, Kp], zeros past
 * K), with each row's scale max|x| / 127 in xs.
 */
export function quantizeRows(xq: usize, xs: usize, x: usize, K: i32, Kp: i32, r0: i32, r1: i32): void {
  const K8 = K & ~7;
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * K << 2);
    const dst = xq + (<usize>r * Kp << 1);
    const amax = absMax(src, K);
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

/** Lane-wise partial sums of one block: 32 int8 weights at `w` · 32 activations (four i16x8). */
@inline function blockDot(w: usize, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const wa = v128.load(w), wb = v128.load(w + 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wa), p0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wa), p1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(wb), p2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(wb), p3)),
  );
}

/** Lane-wise partial sums of widened weights (four i16x8) · activations (four i16x8). */
@inline function dot4(l: v128, h: v128, l2: v128, h2: v128, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(l, p0), i32x4.dot_i16x8_s(h, p1)), i32x4.add(i32x4.dot_i16x8_s(l2, p2), i32x4.dot_i16x8_s(h2, p3)));
}

/** The int8 tile at t (`blocks` groups) widened into h: per block the scales, then each row's 32 values as i16. */
function widenTile(h: usize, t: usize, blocks: i32): void {
  for (let k = 0; k < blocks; k++, t += GROUP, h += WIDE) {
    v128.store(h, v128.load(t));
    for (let i: usize = 0; i < 128; i += 16) {
      const v = v128.load(t + 16 + i);
      v128.store(h + 16 + (i << 1), i16x8.extend_low_i8x16_s(v));
      v128.store(h + 32 + (i << 1), i16x8.extend_high_i8x16_s(v));
    }
  }
}

/** Outputs n .. n+4 of every row of out from a tile widened into h (see widenTile; q4 widens into the same layout): 2 × 4, then 1 × 4. */
@inline export function widenedRows(out: usize, xq: usize, xs: usize, h: usize, R: i32, N: i32, Kp: i32, b: v128, n: i32): void {
  const xRow = <usize>Kp << 1, end = h + <usize>(Kp / BLOCK) * WIDE;
  let r = 0;
  for (; r + 2 <= R; r += 2) {
    let x0 = xq + <usize>r * xRow;
    let f0 = f32x4.splat(0), f1 = f32x4.splat(0);
    for (let p = h; p < end; p += WIDE, x0 += <usize>BLOCK << 1) {
      const x1 = x0 + xRow;
      let z0 = v128.load(x0), z1 = v128.load(x1);
      let hv = v128.load(p, 16);
      let a00 = i32x4.dot_i16x8_s(hv, z0), a10 = i32x4.dot_i16x8_s(hv, z1);
      hv = v128.load(p, 80);
      let a01 = i32x4.dot_i16x8_s(hv, z0), a11 = i32x4.dot_i16x8_s(hv, z1);
      hv = v128.load(p, 144);
      let a02 = i32x4.dot_i16x8_s(hv, z0), a12 = i32x4.dot_i16x8_s(hv, z1);
      hv = v128.load(p, 208);
      let a03 = i32x4.dot_i16x8_s(hv, z0), a13 = i32x4.dot_i16x8_s(hv, z1);
      for (let j: usize = 16; j < 64; j += 16) {
        z0 = v128.load(x0 + j); z1 = v128.load(x1 + j);
        hv = v128.load(p + j, 16); a00 = i32x4.add(a00, i32x4.dot_i16x8_s(hv, z0)); a10 = i32x4.add(a10, i32x4.dot_i16x8_s(hv, z1));
        hv = v128.load(p + j, 80); a01 = i32x4.add(a01, i32x4.dot_i16x8_s(hv, z0)); a11 = i32x4.add(a11, i32x4.dot_i16x8_s(hv, z1));
        hv = v128.load(p + j, 144); a02 = i32x4.add(a02, i32x4.dot_i16x8_s(hv, z0)); a12 = i32x4.add(a12, i32x4.dot_i16x8_s(hv, z1));
        hv = v128.load(p + j, 208); a03 = i32x4.add(a03, i32x4.dot_i16x8_s(hv, z0)); a13 = i32x4.add(a13, i32x4.dot_i16x8_s(hv, z1));
      }
      const s = v128.load(p);
      f0 = madd(f32x4.convert_i32x4_s(reduce4i(a00, a01, a02, a03)), s, f0);
      f1 = madd(f32x4.convert_i32x4_s(reduce4i(a10, a11, a12, a13)), s, f1);
    }
    const o = out + ((<usize>r * N + n) << 2);
    storeOutputs(o, f32x4.add(f32x4.mul(f0, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
    storeOutputs(o + (<usize>N << 2), f32x4.add(f32x4.mul(f1, v128.load32_splat(xs + (<usize>(r + 1) << 2))), b), n, N);
  }
  if (r < R) {
    let x0 = xq + <usize>r * xRow;
    let f0 = f32x4.splat(0);
    for (let p = h; p < end; p += WIDE, x0 += <usize>BLOCK << 1) {
      let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      for (let j: usize = 0; j < 64; j += 16) {
        const z = v128.load(x0 + j);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load(p + j, 16), z));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load(p + j, 80), z));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load(p + j, 144), z));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load(p + j, 208), z));
      }
      f0 = madd(f32x4.convert_i32x4_s(reduce4i(a0, a1, a2, a3)), v128.load(p), f0);
    }
    storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(f32x4.mul(f0, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
  }
}

/** Columns n0 .. n1 of out = x · wᵀ for int8 weights w ([N, K] tiled, Kp = K padded to 32); `tmp`: 8.5·Kp bytes of scratch. */
export function matmulI8(out: usize, xq: usize, xs: usize, w: usize, R: i32, N: i32, Kp: i32, bias: usize, tmp: usize, n0: i32, n1: i32): void {
  const blocks = Kp / BLOCK;
  const xRow = <usize>Kp << 1, tileBytes = <usize>blocks * GROUP;
  for (let n = n0; n < n1; n += 4) {
    const t = w + <usize>(n >> 2) * tileBytes;
    const b = biasAt4(bias, n, N);
    if (R >= UNPACK_ROWS) {
      widenTile(tmp, t, blocks);
      widenedRows(out, xq, xs, tmp, R, N, Kp, b, n);
      continue;
    }
    let r = 0;
    for (; r + 2 <= R; r += 2) {
      const x0 = xq + <usize>r * xRow, x1 = x0 + xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let p = t;
      for (let k = 0; k < blocks; k++, p += GROUP) {
        const ox = <usize>(k * BLOCK) << 1;
        const p0 = v128.load(x0 + ox), p1 = v128.load(x0 + ox + 16), p2 = v128.load(x0 + ox + 32), p3 = v128.load(x0 + ox + 48);
        const q0 = v128.load(x1 + ox), q1 = v128.load(x1 + ox + 16), q2 = v128.load(x1 + ox + 32), q3 = v128.load(x1 + ox + 48);
        // each weight row widened once, dotted with both activation rows
        let wa = v128.load(p + 16), wb = v128.load(p + 32);
        let l = i16x8.extend_low_i8x16_s(wa), h = i16x8.extend_high_i8x16_s(wa), l2 = i16x8.extend_low_i8x16_s(wb), h2 = i16x8.extend_high_i8x16_s(wb);
        const d00 = dot4(l, h, l2, h2, p0, p1, p2, p3), d10 = dot4(l, h, l2, h2, q0, q1, q2, q3);
        wa = v128.load(p + 48); wb = v128.load(p + 64);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        const d01 = dot4(l, h, l2, h2, p0, p1, p2, p3), d11 = dot4(l, h, l2, h2, q0, q1, q2, q3);
        wa = v128.load(p + 80); wb = v128.load(p + 96);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        const d02 = dot4(l, h, l2, h2, p0, p1, p2, p3), d12 = dot4(l, h, l2, h2, q0, q1, q2, q3);
        wa = v128.load(p + 112); wb = v128.load(p + 128);
        l = i16x8.extend_low_i8x16_s(wa); h = i16x8.extend_high_i8x16_s(wa); l2 = i16x8.extend_low_i8x16_s(wb); h2 = i16x8.extend_high_i8x16_s(wb);
        const d03 = dot4(l, h, l2, h2, p0, p1, p2, p3), d13 = dot4(l, h, l2, h2, q0, q1, q2, q3);
        const s = v128.load(p);
        a0 = madd(f32x4.convert_i32x4_s(reduce4i(d00, d01, d02, d03)), s, a0);
        a1 = madd(f32x4.convert_i32x4_s(reduce4i(d10, d11, d12, d13)), s, a1);
      }
      const o = out + ((<usize>r * N + n) << 2);
      storeOutputs(o, f32x4.add(f32x4.mul(a0, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
      storeOutputs(o + (<usize>N << 2), f32x4.add(f32x4.mul(a1, v128.load32_splat(xs + (<usize>(r + 1) << 2))), b), n, N);
    }
    for (; r < R; r++) {
      const x0 = xq + <usize>r * xRow;
      let a = f32x4.splat(0);
      let p = t;
      for (let k = 0; k < blocks; k++, p += GROUP) {
        const ox = <usize>(k * BLOCK) << 1;
        const p0 = v128.load(x0 + ox), p1 = v128.load(x0 + ox + 16), p2 = v128.load(x0 + ox + 32), p3 = v128.load(x0 + ox + 48);
        a = madd(f32x4.convert_i32x4_s(reduce4i(
          blockDot(p + 16, p0, p1, p2, p3), blockDot(p + 48, p0, p1, p2, p3), blockDot(p + 80, p0, p1, p2, p3), blockDot(p + 112, p0, p1, p2, p3),
        )), v128.load(p), a);
      }
      storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(f32x4.mul(a, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
    }
  }
}
