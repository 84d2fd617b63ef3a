// Weight conversions at load, run by the loading thread: 16-bit floats widened to float32, float32 narrowed to
// bfloat16 or IEEE half (round to nearest even), and float32 rows quantized into int8 blocks of 32 with f32
// scales (scale = max|w| / 127, q = round(w / scale)). Each matches the JS encoders in src/formats.ts.
import { bf16ToFloat, halfToFloat } from "./common";
import { BLOCK } from "./matmul-i8";

/** dst[i] = float32 of the 16-bit pattern src[i], i < n (`bf`: bfloat16, else IEEE half). */
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
@inline function toHalf(x: f32): u16 {
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

/** dst[i] = the 16-bit pattern nearest to src[i], i < n (`bf`: bfloat16, else IEEE half). */
export function narrowToHalves(dst: usize, src: usize, n: i32, bf: bool): void {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(src + (<usize>i << 2));
    store<u16>(dst + (<usize>i << 1), bf ? toBf16(x) : toHalf(x));
  }
}

/** `rows` rows of K floats at src into int8 rows of `stride` (zeros past K) at q and one scale per 32 at scales. */
export function quantizeWeights(q: usize, scales: usize, src: usize, rows: i32, K: i32, stride: i32): void {
  const blocks = stride / BLOCK;
  for (let r = 0; r < rows; r++) {
    const row = src + (<usize>r * K << 2), qr = q + <usize>r * stride, sr = scales + (<usize>r * blocks << 2);
    for (let b = 0; b < blocks; b++) {
      const from = b * BLOCK, to = min(from + BLOCK, K);
      let amax: f32 = 0;
      for (let k = from; k < to; k++) amax = max(amax, abs<f32>(load<f32>(row + (<usize>k << 2))));
      const scale = amax / <f32>127;
      store<f32>(sr + (<usize>b << 2), scale);
      const inv: f32 = scale == 0 ? 0 : <f32>1 / scale;
      for (let k = from; k < from + BLOCK; k++) {
        const v: f32 = k < to ? nearest<f32>(load<f32>(row + (<usize>k << 2)) * inv) : 0;
        store<i8>(qr + k, <i8><i32>v);
      }
    }
  }
}
