// Weight conversions at load, run by the loading thread: rows arrive row-major (float32 or 16-bit patterns) in
// a staging area and are written into the tiled layout of src/formats.ts: copied as they are, widened to float32,
// narrowed to bfloat16 or IEEE half (round to nearest even), or quantized into int8 blocks of 32 with f32 scales
// (scale = max|w| / 127, q = round(w / scale)). Each matches the JS encoders in src/formats.ts.
import { bf16ToFloat, halfToFloat } from "./common";
import { BLOCK } from "./matmul-i8";

/** dst[i] = float32 of the 16-bit pattern src[i], i < n (`bf`: bfloat16, else IEEE half), row-major to row-major. */
export function widenHalves(dst: usize, src: usize, n: i32, bf: bool): void {
  let i = 0;
  if (bf) {
    for (; i + 8 <= n; i += 8) {
      const v = v128.load(src + (<usize>i << 1));
      v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
      v128.store(dst + (<usize>i << 2) + 16, i32x4.shl(i32x4.extend_high_i16x8_u(v), 16));
    }
  }
  for (; i < n; i++) {
    const h = <u32>load<u16>(src + (<usize>i << 1));
    store<f32>(dst + (<usize>i << 2), bf ? bf16ToFloat(h) : halfToFloat(h));
  }
}

/** The bfloat16 pattern nearest to x (ties to even; NaN stays a quiet NaN). */
@inline function toBf16(x: f32): u16 {
  const u = reinterpret<u32>(x);
  if ((u & 0x7fffffff) > 0x7f800000) return <u16>((u >>> 16) | 0x40);
  return <u16>((u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
}

/** The IEEE half pattern nearest to x (ties to even; overflow → ±inf; subnormals kept). */
@inline export function toHalf(x: f32): u16 {
  const u = reinterpret<u32>(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = <i32>((u >>> 23) & 0xff);
  let mant = u & 0x7fffff;
  if (exp == 0xff) return <u16>(sign | 0x7c00 | (mant != 0 ? 0x200 : 0));
  const e = exp - 127 + 15;
  if (e >= 31) return <u16>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return <u16>sign;
    mant |= 0x800000;
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    const rest = mant & ((<u32>1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest == half && (m & 1) != 0)) m++;
    return <u16>(sign | m);
  }
  let h = (<u32>e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++;
  return <u16>(sign | h);
}

/** dst[i] = the 16-bit pattern nearest to src[i], i < n (`bf`: bfloat16, else IEEE half), row-major to row-major. */
export function narrowToHalves(dst: usize, src: usize, n: i32, bf: bool): void {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(src + (<usize>i << 2));
    store<u16>(dst + (<usize>i << 1), bf ? toBf16(x) : toHalf(x));
  }
}

/**
 * Rows row0 .. row0 + rows of a matrix (K values each, `bytes` per value: 4 or 2) from row-major `src` into the
 * tiled layout at `dst` (chunks of 16 bytes per row piece, 64 bytes per tile-chunk); partial chunks stay padded.
 */
export function packRows(dst: usize, src: usize, rows: i32, K: i32, bytes: i32, row0: i32): void {
  const chunk = 16 / bytes;
  const chunks = (K + chunk - 1) / chunk;
  for (let r = 0; r < rows; r++) {
    const n = row0 + r;
    const tile = dst + <usize>(n >> 2) * <usize>chunks * 64 + (<usize>(n & 3) << 4);
    const row = src + <usize>r * <usize>K * <usize>bytes;
    const full = K / chunk;
    for (let j = 0; j < full; j++) v128.store(tile + (<usize>j << 6), v128.load(row + (<usize>j << 4)));
    if (full < chunks) memory.copy(tile + (<usize>full << 6), row + (<usize>full << 4), <usize>((K - full * chunk) * bytes));
  }
}

/** Rows row0 .. row0 + rows of K floats at src, quantized into the tiled int8 layout at q (scales beside each block group). */
export function quantizeWeights(q: usize, src: usize, rows: i32, K: i32, row0: i32): void {
  const blocks = (K + BLOCK - 1) / BLOCK;
  for (let r = 0; r < rows; r++) {
    const n = row0 + r;
    const tile = q + <usize>(n >> 2) * <usize>blocks * 144;
    const row = src + (<usize>r * K << 2);
    for (let b = 0; b < blocks; b++) {
      const group = tile + <usize>b * 144;
      const from = b * BLOCK, to = min(from + BLOCK, K);
      let amax: f32 = 0;
      for (let k = from; k < to; k++) amax = max(amax, abs<f32>(load<f32>(row + (<usize>k << 2))));
      const scale = amax / <f32>127;
      store<f32>(group + (<usize>(n & 3) << 2), scale);
      const inv: f32 = scale == 0 ? 0 : <f32>1 / scale;
      const dst = group + 16 + (<usize>(n & 3) << 5);
      for (let k = from; k < to; k++) store<i8>(dst + (k - from), <i8><i32>nearest<f32>(load<f32>(row + (<usize>k << 2)) * inv));
    }
  }
}
