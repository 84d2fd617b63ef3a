// Ternary weights (BitNet b1.58) in the tiled layout of src/formats.ts: per (tile of 4 rows, chunk of 64 values)
// 64 bytes, a row's piece eight u16 lanes whose bits 2f, 2f + 1 hold q + 1 ∈ {0, 1, 2} of the chunk's value 8f + i
// (lane i, field f); after the last tile a trailer with the matrix's scale. Activations are quantized to int8 per
// row (absmax, as quantizeRows does), summed once per row (Σ q_x: the +1 of every weight is taken off at the end),
// and laid out for the build's kernel:
//   plain SIMD  i16, per chunk eight vectors z_f (f = 0 .. 7, lane i): with y_f = the row's values 8f + i,
//               z_0 = y_0, z_f = y_f − 4·y_{f−1} (f = 1 .. 6), z_7 = y_7. Then with u = w & 0x3fff (fields 0 .. 6) and
//               H_f = u >> 2f, Σ_f ⟨field_f, y_f⟩ = Σ_{f<7} ⟨H_f, z_f⟩ + ⟨w >> 14, z_7⟩ (field_f = H_f − 4·H_{f+1}):
//               one shift and one i32x4.dot_i16x8_s per 8 weights, no masks.
//   relaxed     i8, per chunk four vectors a_g (g = 0 .. 3) whose bytes 2i, 2i + 1 are the values 8g + i and
//               8(g + 4) + i: field g of both bytes of lane i, (w >> 2g) & 0x0303, is the i7 operand of
//               i32x4.relaxed_dot_i8x16_i7x16_add_s: 16 weights per shift, mask and dot.
// Products: out = (Σ q_x (q_w + 1) − Σ q_x) · s_x · scale (+ bias), integers in i32 (wrapping sums stay exact: the
// true result is small).
import { absMax, biasAt4, reduce4i, storeOutputs } from "./common";

/** Values per chunk of a row. */
const CHUNK: i32 = 64;
/** Bytes of one (tile, chunk) group. */
const GROUP: usize = 64;

/** Bytes of one prepared activation row of Kp values (Kp a multiple of 64). */
@inline function rowBytes(Kp: i32): usize {
  return ASC_FEATURE_RELAXED_SIMD ? <usize>Kp : <usize>Kp << 1;
}

/** The matrix's scale, in the trailer after its tiles. */
@inline function scaleOf(w: usize, N: i32, chunks: i32): f32 {
  return load<f32>(w + <usize>((N + 3) >> 2) * <usize>chunks * GROUP);
}

/** 8 int8 values of x (f32) at p, rounded to nearest (ties even) after scaling by inv, as i16x8. */
@inline function quantize8(p: usize, inv: v128): v128 {
  const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
  const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)));
  return i16x8.narrow_i32x4_s(a, b);
}

/** Byte order that interleaves two narrowed vectors' halves: bytes 0..7 of a with bytes 8..15 (a's second half). */
@inline function interleave(a: v128): v128 {
  return v128.shuffle<u8>(a, a, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** Stores one chunk's eight i16x8 value vectors y_0 .. y_7 in the build's layout at dst. */
@inline function storeChunk(dst: usize, y0: v128, y1: v128, y2: v128, y3: v128, y4: v128, y5: v128, y6: v128, y7: v128): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(dst, interleave(i8x16.narrow_i16x8_s(y0, y4)));
    v128.store(dst, interleave(i8x16.narrow_i16x8_s(y1, y5)), 16);
    v128.store(dst, interleave(i8x16.narrow_i16x8_s(y2, y6)), 32);
    v128.store(dst, interleave(i8x16.narrow_i16x8_s(y3, y7)), 48);
    return;
  }
  v128.store(dst, y0);
  v128.store(dst, i16x8.sub(y1, i16x8.shl(y0, 2)), 16);
  v128.store(dst, i16x8.sub(y2, i16x8.shl(y1, 2)), 32);
  v128.store(dst, i16x8.sub(y3, i16x8.shl(y2, 2)), 48);
  v128.store(dst, i16x8.sub(y4, i16x8.shl(y3, 2)), 64);
  v128.store(dst, i16x8.sub(y5, i16x8.shl(y4, 2)), 80);
  v128.store(dst, i16x8.sub(y6, i16x8.shl(y5, 2)), 96);
  v128.store(dst, y7, 112);
}

/**
 * Rows r0 .. r1 of x ([R, K] f32) quantized to int8 by absmax (q = round(x · 127 / max|x|)) into xq ([R] prepared
 * rows of Kp values, zeros past K, in the build's layout), with each row's scale max|x| / 127 in xs and Σ q in
 * xsum. `tmp` holds one chunk (128 bytes) for the row's last, partial chunk.
 */
export function prepareTernary(xq: usize, xs: usize, xsum: usize, x: usize, K: i32, Kp: i32, tmp: usize, r0: i32, r1: i32): void {
  const full = K / CHUNK, chunks = Kp / CHUNK;
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * K << 2);
    const dst = xq + <usize>r * rowBytes(Kp);
    const amax = absMax(src, K);
    const inv: f32 = amax == 0 ? 0 : <f32>127 / amax;
    store<f32>(xs + (<usize>r << 2), amax / <f32>127);
    const iv = f32x4.splat(inv);
    let sum = i32x4.splat(0);
    for (let c = 0; c < chunks; c++) {
      let p = src + (<usize>(c * CHUNK) << 2);
      if (c >= full) {                                        // the partial chunk: quantized one by one into tmp
        for (let i = 0; i < CHUNK; i++) {
          const k = c * CHUNK + i;
          const v: f32 = k < K ? nearest<f32>(load<f32>(src + (<usize>k << 2)) * inv) : 0;
          store<i16>(tmp + (<usize>i << 1), <i16><i32>v);
        }
      }
      let y0: v128, y1: v128, y2: v128, y3: v128, y4: v128, y5: v128, y6: v128, y7: v128;
      if (c < full) {
        y0 = quantize8(p, iv); y1 = quantize8(p + 32, iv); y2 = quantize8(p + 64, iv); y3 = quantize8(p + 96, iv);
        y4 = quantize8(p + 128, iv); y5 = quantize8(p + 160, iv); y6 = quantize8(p + 192, iv); y7 = quantize8(p + 224, iv);
      } else {
        p = tmp;
        y0 = v128.load(p); y1 = v128.load(p, 16); y2 = v128.load(p, 32); y3 = v128.load(p, 48);
        y4 = v128.load(p, 64); y5 = v128.load(p, 80); y6 = v128.load(p, 96); y7 = v128.load(p, 112);
      }
      const s = i16x8.add(i16x8.add(i16x8.add(y0, y1), i16x8.add(y2, y3)), i16x8.add(i16x8.add(y4, y5), i16x8.add(y6, y7)));
      sum = i32x4.add(sum, i32x4.extadd_pairwise_i16x8_s(s));      // |s| ≤ 8 · 127 per lane: no i16 overflow
      storeChunk(dst + <usize>c * (rowBytes(Kp) / <usize>chunks), y0, y1, y2, y3, y4, y5, y6, y7);
    }
    store<i32>(xsum + (<usize>r << 2),
      i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) + i32x4.extract_lane(sum, 3));
  }
}

/** acc + the lane-wise dot of unpacked weights h and activations z (one field of one row piece). */
@inline function dotAdd(acc: v128, h: v128, z: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(z, h, acc);
  return i32x4.add(acc, i32x4.dot_i16x8_s(h, z));
}

/** The 4 outputs n .. n+4 of activation row r from a tile's 4 lane-wise sums: (dot − Σ q_x) · s_x · scale + bias. */
@inline function finish(out: usize, d: v128, xs: usize, xsum: usize, r: i32, scale: f32, b: v128, n: i32, N: i32): void {
  const dot = f32x4.convert_i32x4_s(i32x4.sub(d, i32x4.splat(load<i32>(xsum + (<usize>r << 2)))));
  const v = f32x4.mul(f32x4.mul(dot, v128.load32_splat(xs + (<usize>r << 2))), f32x4.splat(scale));
  storeOutputs(out + ((<usize>r * N + n) << 2), f32x4.add(v, b), n, N);
}

/** Activation rows from which a tile's fields are unpacked once into scratch and reused by every row. */
export const UNPACK_ROWS: i32 = 4;
/** Bytes of one chunk of a tile's unpacked fields: per field, the 4 rows' vectors. */
const UNPACKED: usize = ASC_FEATURE_RELAXED_SIMD ? 4 * 64 : 8 * 64;

/** The fields of a tile's `chunks` chunks at t, unpacked for the build's kernel into h ([chunk][field][row] vectors). */
function unpackTile(h: usize, t: usize, chunks: i32): void {
  for (let c = 0; c < chunks; c++, t += GROUP, h += UNPACKED) {
    for (let i: usize = 0; i < 4; i++) {
      const v = v128.load(t + (i << 4)), o = h + (i << 4);
      if (ASC_FEATURE_RELAXED_SIMD) {
        const k3 = i8x16.splat(3);
        v128.store(o, v128.and(v, k3));
        v128.store(o, v128.and(i16x8.shr_u(v, 2), k3), 64);
        v128.store(o, v128.and(i16x8.shr_u(v, 4), k3), 128);
        v128.store(o, v128.and(i16x8.shr_u(v, 6), k3), 192);
      } else {
        const u = v128.and(v, i16x8.splat(0x3fff));
        v128.store(o, u);
        v128.store(o, i16x8.shr_u(u, 2), 64);
        v128.store(o, i16x8.shr_u(u, 4), 128);
        v128.store(o, i16x8.shr_u(u, 6), 192);
        v128.store(o, i16x8.shr_u(u, 8), 256);
        v128.store(o, i16x8.shr_u(u, 10), 320);
        v128.store(o, i16x8.shr_u(u, 12), 384);
        v128.store(o, i16x8.shr_u(v, 14), 448);
      }
    }
  }
}

/**
 * Columns n0 .. n1 (n0 a multiple of 4) of out[R, N] = x · wᵀ (+ bias) for ternary weights w ([N, K] tiled, Kp = K
 * padded to 64) and activations prepared by prepareTernary. From UNPACK_ROWS rows on (prefill), each tile's fields
 * are unpacked once into `tmp` (8·Kp bytes) and read by every row; otherwise two activation rows at a time share each
 * unpacked field, then one row at a time (decode).
 */
export function matmulTernary(out: usize, xq: usize, xs: usize, xsum: usize, w: usize, R: i32, N: i32, Kp: i32, bias: usize, tmp: usize, n0: i32, n1: i32): void {
  const chunks = Kp / CHUNK;
  const xRow = rowBytes(Kp), step = xRow / <usize>chunks, tileBytes = <usize>chunks * GROUP;
  const scale = scaleOf(w, N, chunks);
  for (let n = n0; n < n1; n += 4) {
    const t = w + <usize>(n >> 2) * tileBytes;
    const b = biasAt4(bias, n, N);
    let r = 0;
    if (R >= UNPACK_ROWS) {
      unpackTile(tmp, t, chunks);
      for (; r + 2 <= R; r += 2) {                            // two rows share each unpacked vector
        const x0 = xq + <usize>r * xRow, x1 = x0 + xRow;
        let a00 = i32x4.splat(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        let h = tmp;
        for (let c = 0; c < chunks; c++) {
          const y0 = x0 + <usize>c * step, y1 = x1 + <usize>c * step;
          for (let f: usize = 0; f < UNPACKED; f += 64, h += 64) {
            const z0 = v128.load(y0 + (f >> 2)), z1 = v128.load(y1 + (f >> 2));
            let hv = v128.load(h);
            a00 = dotAdd(a00, hv, z0); a10 = dotAdd(a10, hv, z1);
            hv = v128.load(h, 16);
            a01 = dotAdd(a01, hv, z0); a11 = dotAdd(a11, hv, z1);
            hv = v128.load(h, 32);
            a02 = dotAdd(a02, hv, z0); a12 = dotAdd(a12, hv, z1);
            hv = v128.load(h, 48);
            a03 = dotAdd(a03, hv, z0); a13 = dotAdd(a13, hv, z1);
          }
        }
        finish(out, reduce4i(a00, a01, a02, a03), xs, xsum, r, scale, b, n, N);
        finish(out, reduce4i(a10, a11, a12, a13), xs, xsum, r + 1, scale, b, n, N);
      }
      for (; r < R; r++) {
        const x0 = xq + <usize>r * xRow;
        let s0 = i32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
        let h = tmp;
        for (let c = 0; c < chunks; c++) {
          const y = x0 + <usize>c * step;
          for (let f: usize = 0; f < UNPACKED; f += 64, h += 64) {
            const z = v128.load(y + (f >> 2));
            s0 = dotAdd(s0, v128.load(h), z); s1 = dotAdd(s1, v128.load(h, 16), z);
            s2 = dotAdd(s2, v128.load(h, 32), z); s3 = dotAdd(s3, v128.load(h, 48), z);
          }
        }
        finish(out, reduce4i(s0, s1, s2, s3), xs, xsum, r, scale, b, n, N);
      }
    }
    for (; r + 2 <= R; r += 2) {
      const x0 = xq + <usize>r * xRow, x1 = x0 + xRow;
      let a00 = i32x4.splat(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      let p = t;
      for (let c = 0; c < chunks; c++, p += GROUP) {
        const y0 = x0 + <usize>c * step, y1 = x1 + <usize>c * step;
        const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
        if (ASC_FEATURE_RELAXED_SIMD) {
          const k3 = i8x16.splat(3);
          { const h0 = v128.and(v0, k3), h1 = v128.and(v1, k3), h2 = v128.and(v2, k3), h3 = v128.and(v3, k3);
            const z0 = v128.load(y0, 0), z1 = v128.load(y1, 0);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = v128.and(i16x8.shr_u(v0, 2), k3), h1 = v128.and(i16x8.shr_u(v1, 2), k3), h2 = v128.and(i16x8.shr_u(v2, 2), k3), h3 = v128.and(i16x8.shr_u(v3, 2), k3);
            const z0 = v128.load(y0, 16), z1 = v128.load(y1, 16);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = v128.and(i16x8.shr_u(v0, 4), k3), h1 = v128.and(i16x8.shr_u(v1, 4), k3), h2 = v128.and(i16x8.shr_u(v2, 4), k3), h3 = v128.and(i16x8.shr_u(v3, 4), k3);
            const z0 = v128.load(y0, 32), z1 = v128.load(y1, 32);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = v128.and(i16x8.shr_u(v0, 6), k3), h1 = v128.and(i16x8.shr_u(v1, 6), k3), h2 = v128.and(i16x8.shr_u(v2, 6), k3), h3 = v128.and(i16x8.shr_u(v3, 6), k3);
            const z0 = v128.load(y0, 48), z1 = v128.load(y1, 48);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
        } else {
          const m = i16x8.splat(0x3fff);
          const u0 = v128.and(v0, m), u1 = v128.and(v1, m), u2 = v128.and(v2, m), u3 = v128.and(v3, m);
          { const h0 = u0, h1 = u1, h2 = u2, h3 = u3;
            const z0 = v128.load(y0, 0), z1 = v128.load(y1, 0);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 2), h1 = i16x8.shr_u(u1, 2), h2 = i16x8.shr_u(u2, 2), h3 = i16x8.shr_u(u3, 2);
            const z0 = v128.load(y0, 16), z1 = v128.load(y1, 16);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 4), h1 = i16x8.shr_u(u1, 4), h2 = i16x8.shr_u(u2, 4), h3 = i16x8.shr_u(u3, 4);
            const z0 = v128.load(y0, 32), z1 = v128.load(y1, 32);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 6), h1 = i16x8.shr_u(u1, 6), h2 = i16x8.shr_u(u2, 6), h3 = i16x8.shr_u(u3, 6);
            const z0 = v128.load(y0, 48), z1 = v128.load(y1, 48);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 8), h1 = i16x8.shr_u(u1, 8), h2 = i16x8.shr_u(u2, 8), h3 = i16x8.shr_u(u3, 8);
            const z0 = v128.load(y0, 64), z1 = v128.load(y1, 64);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 10), h1 = i16x8.shr_u(u1, 10), h2 = i16x8.shr_u(u2, 10), h3 = i16x8.shr_u(u3, 10);
            const z0 = v128.load(y0, 80), z1 = v128.load(y1, 80);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(u0, 12), h1 = i16x8.shr_u(u1, 12), h2 = i16x8.shr_u(u2, 12), h3 = i16x8.shr_u(u3, 12);
            const z0 = v128.load(y0, 96), z1 = v128.load(y1, 96);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
          { const h0 = i16x8.shr_u(v0, 14), h1 = i16x8.shr_u(v1, 14), h2 = i16x8.shr_u(v2, 14), h3 = i16x8.shr_u(v3, 14);
            const z0 = v128.load(y0, 112), z1 = v128.load(y1, 112);
            a00 = dotAdd(a00, h0, z0); a01 = dotAdd(a01, h1, z0); a02 = dotAdd(a02, h2, z0); a03 = dotAdd(a03, h3, z0);
            a10 = dotAdd(a10, h0, z1); a11 = dotAdd(a11, h1, z1); a12 = dotAdd(a12, h2, z1); a13 = dotAdd(a13, h3, z1); }
        }
      }
      finish(out, reduce4i(a00, a01, a02, a03), xs, xsum, r, scale, b, n, N);
      finish(out, reduce4i(a10, a11, a12, a13), xs, xsum, r + 1, scale, b, n, N);
    }
    for (; r < R; r++) {                                        // one row: each activation vector serves the tile's 4 rows
      const x0 = xq + <usize>r * xRow;
      let s0 = i32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      let p = t;
      for (let c = 0; c < chunks; c++, p += GROUP) {
        const y = x0 + <usize>c * step;
        const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
        if (ASC_FEATURE_RELAXED_SIMD) {
          const k3 = i8x16.splat(3);
          { const z = v128.load(y, 0);
            s0 = dotAdd(s0, v128.and(v0, k3), z); s1 = dotAdd(s1, v128.and(v1, k3), z);
            s2 = dotAdd(s2, v128.and(v2, k3), z); s3 = dotAdd(s3, v128.and(v3, k3), z); }
          { const z = v128.load(y, 16);
            s0 = dotAdd(s0, v128.and(i16x8.shr_u(v0, 2), k3), z); s1 = dotAdd(s1, v128.and(i16x8.shr_u(v1, 2), k3), z);
            s2 = dotAdd(s2, v128.and(i16x8.shr_u(v2, 2), k3), z); s3 = dotAdd(s3, v128.and(i16x8.shr_u(v3, 2), k3), z); }
          { const z = v128.load(y, 32);
            s0 = dotAdd(s0, v128.and(i16x8.shr_u(v0, 4), k3), z); s1 = dotAdd(s1, v128.and(i16x8.shr_u(v1, 4), k3), z);
            s2 = dotAdd(s2, v128.and(i16x8.shr_u(v2, 4), k3), z); s3 = dotAdd(s3, v128.and(i16x8.shr_u(v3, 4), k3), z); }
          { const z = v128.load(y, 48);
            s0 = dotAdd(s0, v128.and(i16x8.shr_u(v0, 6), k3), z); s1 = dotAdd(s1, v128.and(i16x8.shr_u(v1, 6), k3), z);
            s2 = dotAdd(s2, v128.and(i16x8.shr_u(v2, 6), k3), z); s3 = dotAdd(s3, v128.and(i16x8.shr_u(v3, 6), k3), z); }
        } else {
          const m = i16x8.splat(0x3fff);
          const u0 = v128.and(v0, m), u1 = v128.and(v1, m), u2 = v128.and(v2, m), u3 = v128.and(v3, m);
          { const z = v128.load(y, 0);
            s0 = dotAdd(s0, u0, z); s1 = dotAdd(s1, u1, z);
            s2 = dotAdd(s2, u2, z); s3 = dotAdd(s3, u3, z); }
          { const z = v128.load(y, 16);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 2), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 2), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 2), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 2), z); }
          { const z = v128.load(y, 32);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 4), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 4), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 4), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 4), z); }
          { const z = v128.load(y, 48);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 6), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 6), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 6), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 6), z); }
          { const z = v128.load(y, 64);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 8), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 8), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 8), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 8), z); }
          { const z = v128.load(y, 80);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 10), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 10), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 10), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 10), z); }
          { const z = v128.load(y, 96);
            s0 = dotAdd(s0, i16x8.shr_u(u0, 12), z); s1 = dotAdd(s1, i16x8.shr_u(u1, 12), z);
            s2 = dotAdd(s2, i16x8.shr_u(u2, 12), z); s3 = dotAdd(s3, i16x8.shr_u(u3, 12), z); }
          { const z = v128.load(y, 112);
            s0 = dotAdd(s0, i16x8.shr_u(v0, 14), z); s1 = dotAdd(s1, i16x8.shr_u(v1, 14), z);
            s2 = dotAdd(s2, i16x8.shr_u(v2, 14), z); s3 = dotAdd(s3, i16x8.shr_u(v3, 14), z); }
        }
      }
      finish(out, reduce4i(s0, s1, s2, s3), xs, xsum, r, scale, b, n, N);
    }
  }
}

/** out[r] = row tokens[r] of the ternary table ([V, D] tiled) decoded to f32 (q · scale), rows r0 .. r1. */
export function embedTernary(out: usize, table: usize, tokens: usize, V: i32, D: i32, r0: i32, r1: i32): void {
  const chunks = (D + CHUNK - 1) / CHUNK;
  const scale = scaleOf(table, V, chunks);
  for (let r = r0; r < r1; r++) {
    const id = load<i32>(tokens + (<usize>r << 2));
    const piece = table + <usize>(id >> 2) * <usize>chunks * GROUP + (<usize>(id & 3) << 4);
    const dst = out + (<usize>r * D << 2);
    for (let k = 0; k < D; k++) {
      const lane = <i32>load<u16>(piece + <usize>(k >> 6) * GROUP + (<usize>(k & 7) << 1));
      store<f32>(dst + (<usize>k << 2), <f32>(((lane >> (((k >> 3) & 7) << 1)) & 3) - 1) * scale);
    }
  }
}

// ---- conversions at load (run by the loading thread) ----

/** acc + Σ |src[i]|, i < n, summed in f64 in order (the JS reference's order, so both find the same mean). */
export function ternaryAbsSum(src: usize, n: i32, acc: f64): f64 {
  for (let i = 0; i < n; i++) acc += <f64>abs<f32>(load<f32>(src + (<usize>i << 2)));
  return acc;
}

/** The u16 lane of chunk j, lane i of a row, from its values q ∈ {-1, 0, 1} given by `value(k)` (fields past K stay 0). */
@inline function laneOf(j: i32, i: i32, K: i32, src: usize, f32src: bool, inverse: f32): u16 {
  let lane = 0;
  for (let f = 0; f < 8; f++) {
    const k = j * CHUNK + 8 * f + i;
    if (k >= K) break;
    let q: i32;
    if (f32src) q = min(1, max(-1, <i32>nearest<f32>(load<f32>(src + (<usize>k << 2)) * inverse)));
    else q = <i32>load<i8>(src + <usize>k);
    lane |= (q + 1) << (f << 1);
  }
  return <u16>lane;
}

/**
 * Rows row0 .. row0 + rows of K floats at src, ternarized (q = clamp(round(w · inverse), -1, 1)) into the tiled
 * ternary layout at dst.
 */
export function ternarizeRows(dst: usize, src: usize, rows: i32, K: i32, row0: i32, inverse: f32): void {
  const chunks = (K + CHUNK - 1) / CHUNK;
  for (let r = 0; r < rows; r++) {
    const n = row0 + r, row = src + (<usize>r * K << 2);
    const piece = dst + <usize>(n >> 2) * <usize>chunks * GROUP + (<usize>(n & 3) << 4);
    for (let j = 0; j < chunks; j++) {
      for (let i = 0; i < 8; i++) store<u16>(piece + <usize>j * GROUP + (<usize>i << 1), laneOf(j, i, K, row, true, inverse));
    }
  }
}

/**
 * Rows row0 .. row0 + rows of K int8 values (each -1, 0 or 1) at src into the tiled ternary layout at dst. Returns -1,
 * or the index (from src) of the first value outside {-1, 0, 1}, leaving the matrix unfinished.
 */
export function packTernary(dst: usize, src: usize, rows: i32, K: i32, row0: i32): i32 {
  const n = rows * K;
  for (let i = 0; i < n; i++) {
    const v = <i32>load<i8>(src + <usize>i);
    if (v < -1 || v > 1) return i;
  }
  const chunks = (K + CHUNK - 1) / CHUNK;
  for (let r = 0; r < rows; r++) {
    const m = row0 + r, row = src + <usize>r * <usize>K;
    const piece = dst + <usize>(m >> 2) * <usize>chunks * GROUP + (<usize>(m & 3) << 4);
    for (let j = 0; j < chunks; j++) {
      for (let i = 0; i < 8; i++) store<u16>(piece + <usize>j * GROUP + (<usize>i << 1), laneOf(j, i, K, row, false, 0));
    }
  }
  return -1;
}
