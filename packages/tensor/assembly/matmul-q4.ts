// q4 weights in the tiled layout (src/formats.ts: per tile of 4 rows and block of 32, the 4 rows' half scales, then
// the 4 rows' 16 bytes of nibbles, 72 bytes) times activations quantized to int8 per row and held as i16
// (quantizeRows, shared with int8): a row's 16 bytes of a block are eight u16 lanes, each holding values i, 8 + i,
// 16 + i and 24 + i as signed nibbles, so four 16-bit shift pairs (native on x64, where 8-bit lane shifts are
// emulated) give the block's 32 values as four i16x8 in order, ready for i32x4.dot_i16x8_s; the sums are reduced
// across the tile's rows and scaled into one f32x4 of the 4 outputs: out = Σ_b d[n, b] · (x_q · w_q)_b · s_x[r] (+ bias).
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

/** The 4 half scales at p as an f32x4, × 2^-12 for the values' 4096 (2^100 rebias instead of 2^112: exact, subnormals too). */
@inline function scales4(p: usize): v128 {
  const bits = v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(<i32>0x8fffe000));
  return f32x4.mul(bits, f32x4.splat(reinterpret<f32>(0x71800000)));
}

/** Lane-wise partial sums of one row's block: 16 bytes of signed nibbles at q · 32 activations (four i16x8). */
@inline function nibbleDot(q: usize, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const v = v128.load(q);
  return dot4(nib0(v), nib1(v), nib2(v), nib3(v), p0, p1, p2, p3);
}

// The values come out × 4096 (each nibble moved to bits 12–15 of its lane: one shift, or one mask, or both), which
// saves the shift back down; the 2^-12 is folded into the scales (exact: a power of two). Sums stay far inside i32
// (8 · 4096 · 127 per product).
const TOP: i32 = 0xf000;
/** Values 0..7 of a block's 16 bytes `v` as i16 lanes, × 4096 (bits 0–3 of each lane moved to the top). */
@inline function nib0(v: v128): v128 { return i16x8.shl(v, 12); }
/** Values 8..15 (bits 4–7), × 4096. */
@inline function nib1(v: v128): v128 { return v128.and(i16x8.shl(v, 8), i16x8.splat(<i16>TOP)); }
/** Values 16..23 (bits 8–11), × 4096. */
@inline function nib2(v: v128): v128 { return v128.and(i16x8.shl(v, 4), i16x8.splat(<i16>TOP)); }
/** Values 24..31 (bits 12–15), × 4096. */
@inline function nib3(v: v128): v128 { return v128.and(v, i16x8.splat(<i16>TOP)); }

/** Lane-wise partial sums of widened weights (four i16x8) · activations (four i16x8). */
@inline function dot4(a: v128, b: v128, c: v128, d: v128, p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(a, p0), i32x4.dot_i16x8_s(b, p1)), i32x4.add(i32x4.dot_i16x8_s(c, p2), i32x4.dot_i16x8_s(d, p3)));
}

/**
 * The q4 tile at t (`blocks` groups) unpacked into h in int8's widened layout: per block the f32 scales (× 2^-12), then
 * each row's 32 values as i16 (× 4096).
 */
function widenTile(h: usize, t: usize, blocks: i32): void {
  for (let k = 0; k < blocks; k++, t += GROUP, h += WIDE) {
    v128.store(h, scales4(t));
    for (let r: usize = 0; r < 4; r++) {
      const v = v128.load(t + 8 + (r << 4));
      const d = h + 16 + (r << 6);
      v128.store(d, nib0(v));
      v128.store(d + 16, nib1(v));
      v128.store(d + 32, nib2(v));
      v128.store(d + 48, nib3(v));
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
        // each tile row's nibbles unpacked once, dotted with both activation rows
        let v = v128.load(p + 8);
        let wa = nib0(v), wb = nib1(v), wc = nib2(v), wd = nib3(v);
        const d00 = dot4(wa, wb, wc, wd, p0, p1, p2, p3), d10 = dot4(wa, wb, wc, wd, q0, q1, q2, q3);
        v = v128.load(p + 24);
        wa = nib0(v); wb = nib1(v); wc = nib2(v); wd = nib3(v);
        const d01 = dot4(wa, wb, wc, wd, p0, p1, p2, p3), d11 = dot4(wa, wb, wc, wd, q0, q1, q2, q3);
        v = v128.load(p + 40);
        wa = nib0(v); wb = nib1(v); wc = nib2(v); wd = nib3(v);
        const d02 = dot4(wa, wb, wc, wd, p0, p1, p2, p3), d12 = dot4(wa, wb, wc, wd, q0, q1, q2, q3);
        v = v128.load(p + 56);
        wa = nib0(v); wb = nib1(v); wc = nib2(v); wd = nib3(v);
        const d03 = dot4(wa, wb, wc, wd, p0, p1, p2, p3), d13 = dot4(wa, wb, wc, wd, q0, q1, q2, q3);
        const s = scales4(p);
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
          nibbleDot(p + 8, p0, p1, p2, p3), nibbleDot(p + 24, p0, p1, p2, p3), nibbleDot(p + 40, p0, p1, p2, p3), nibbleDot(p + 56, p0, p1, p2, p3),
        )), scales4(p), a);
      }
      storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(f32x4.mul(a, v128.load32_splat(xs + (<usize>r << 2))), b), n, N);
    }
  }
}
