// q4 weights in the tiled layout (src/formats.ts: per tile of 4 rows and block of 32, the 4 rows' half scales, then
// the 4 rows' 16 bytes of nibbles, 72 bytes) times activations quantized to int8 per row and held as i16
// (quantizeRows, shared with int8): each row's nibbles are split (low: values 0..15, high: 16..31), re-centred by −8,
// widened to i16 and dotted in i32 per block, reduced across the tile's rows and scaled into one f32x4 of the 4
// outputs: out = Σ_b d[n, b] · (x_q · w_q)_b · s_x[r] (+ bias).
// Below UNPACK_ROWS rows (decode) the nibbles are unpacked as they are read, 2 × 4 tiles then 1 × 4: half the bytes
// of int8 per weight, which is what a decode step waits for. From UNPACK_ROWS rows on (prefill, batched decode)
// each tile is unpacked once into per-thread scratch in the widened int8 layout, and int8's 2 × 4 register tile runs
// over it (`widenedRows`): the same integer products as int8 after the unpacking.
import { biasAt4, madd, reduce4i, storeOutputs } from "./common";
import { BLOCK, UNPACK_ROWS, widenedRows } from "./matmul-i8";

/** Bytes of one (tile, block) group: 4 half scales and 4 rows of 16 bytes. */
const GROUP: usize = 72;
/** Bytes of one widened (tile, block): 4 f32 scales, then the 4 rows' 32 values as i16 (int8's layout). */
const WIDE: usize = 272;

/** The 4 half scales at p as an f32x4 (normal and subnormal halves; 2^112 rebias, exact). */
@inline function scales4(p: usize): v128 {
  const bits = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(<i32>0x8fffe000));
  return f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x77800000)));
}

/** Lane-wise partial sums of one row's block: 16 bytes of nibbles at q · 32 activations (four i16x8). */
@inline function nibbleDot(q: usize, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const v = v128.load(q), eight = i8x16.splat(8);
  const lo = i8x16.sub(v128.and(v, i8x16.splat(15)), eight), hi = i8x16.sub(i8x16.shr_u(v, 4), eight);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), p0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), p1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), p2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), p3)),
  );
}

/** The q4 tile at t (`blocks` groups) unpacked into h in int8's widened layout: per block the f32 scales, then each row's 32 values as i16. */
function widenTile(h: usize, t: usize, blocks: i32): void {
  const mask = i8x16.splat(15), eight = i8x16.splat(8);
  for (let k = 0; k < blocks; k++, t += GROUP, h += WIDE) {
    v128.store(h, scales4(t));
    for (let r: usize = 0; r < 4; r++) {
      const v = v128.load(t + 8 + (r << 4));
      const lo = i8x16.sub(v128.and(v, mask), eight), hi = i8x16.sub(i8x16.shr_u(v, 4), eight);
      const d = h + 16 + (r << 6);
      v128.store(d, i16x8.extend_low_i8x16_s(lo));
      v128.store(d + 16, i16x8.extend_high_i8x16_s(lo));
      v128.store(d + 32, i16x8.extend_low_i8x16_s(hi));
      v128.store(d + 48, i16x8.extend_high_i8x16_s(hi));
    }
  }
}

/** Columns n0 .. n1 of out = x · wᵀ for q4 weights w ([N, K] tiled, Kp = K padded to 32); `tmp`: 8.5·Kp bytes of scratch. */
export function matmulQ4(out: usize, xq: usize, xs: usize, w: usize, R: i32, N: i32, Kp: i32, bias: usize, tmp: usize, n0: i32, n1: i32): void {
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
        const s = scales4(p);
        a0 = madd(f32x4.convert_i32x4_s(reduce4i(
          nibbleDot(p + 8, p0, p1, p2, p3), nibbleDot(p + 24, p0, p1, p2, p3), nibbleDot(p + 40, p0, p1, p2, p3), nibbleDot(p + 56, p0, p1, p2, p3),
        )), s, a0);
        a1 = madd(f32x4.convert_i32x4_s(reduce4i(
          nibbleDot(p + 8, q0, q1, q2, q3), nibbleDot(p + 24, q0, q1, q2, q3), nibbleDot(p + 40, q0, q1, q2, q3), nibbleDot(p + 56, q0, q1, q2, q3),
        )), s, a1);
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
          nibbleDot(p + 8, p0, p1, p2, p3), nibbleDot(p + 24, p0, p1, p2, p3), nibbleDot(p + 40, p0, p1, p2, p3), nibbleDot(p + 56, p0, p1, p2, p3),
        )), scales4(p), a);
      }
      storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(f32x4.mul(a, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
    }
  }
}
