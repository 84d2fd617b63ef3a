// Float rows into the tiled q4 layout at load (src/formats.ts), exactly as the JS encoder does it: per block of 32,
// d = −m / 8 for the value m of largest magnitude (the first such), rounded to a half; q = round(w / d) (ties to even)
// clamped to [-8, 7]; value c of the block goes to u16 lane c & 7, bits 4·(c >> 3), as a 4-bit two's complement.
import { halfToFloat } from "./common";
import { toHalf } from "./convert";

/** Values per block; bytes per (tile, block) group: 4 half scales, then 4 rows of 16 bytes. */
const BLOCK: i32 = 32, GROUP: usize = 72;

/** Rows row0 .. row0 + rows of K floats at src, quantized into the tiled q4 layout at q. */
export function quantizeQ4Weights(q: usize, src: usize, rows: i32, K: i32, row0: i32): void {
  const blocks = (K + BLOCK - 1) / BLOCK;
  for (let r = 0; r < rows; r++) {
    const n = row0 + r;
    const tile = q + <usize>(n >> 2) * <usize>blocks * GROUP;
    const row = src + (<usize>r * K << 2);
    for (let b = 0; b < blocks; b++) {
      const group = tile + <usize>b * GROUP;
      const from = b * BLOCK, to = min(from + BLOCK, K);
      let amax: f32 = 0, m: f32 = 0;
      for (let k = from; k < to; k++) {
        const v = load<f32>(row + (<usize>k << 2));
        if (abs<f32>(v) > amax) {
          amax = abs<f32>(v);
          m = v;
        }
      }
      const bits = toHalf(m / <f32>-8);
      store<u16>(group + (<usize>(n & 3) << 1), bits);
      const d = halfToFloat(<u32>bits);
      const inv: f32 = d == 0 ? 0 : <f32>1 / d;
      const dst = group + 8 + (<usize>(n & 3) << 4);
      v128.store(dst, i32x4.splat(0));
      for (let c = 0; c < to - from; c++) {
        const v = <i32>nearest<f32>(load<f32>(row + (<usize>(from + c) << 2)) * inv);
        const value = max(-8, min(7, v));
        const at = dst + <usize>(2 * (c & 7) + (c >> 4));
        store<u8>(at, load<u8>(at) | <u8>((value & 15) << ((c & 8) >> 1)));
      }
    }
  }
}
