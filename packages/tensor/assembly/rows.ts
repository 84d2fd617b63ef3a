// Row moves: embedding lookup (a row of a tiled weight in any format, decoded to f32) and gathering the rows
// that need logits.
import { bf16ToFloat, halfToFloat } from "./common";
import { BLOCK } from "./matmul-i8";

/** Weight formats, as the recorder numbers them. */
export const F32: i32 = 0, F16: i32 = 1, BF16: i32 = 2, I8: i32 = 3, Q4: i32 = 5;

/** out[r] = row tokens[r] of the tiled table ([V, D], `format`) decoded to f32, rows r0 .. r1. */
export function embed(out: usize, table: usize, tokens: usize, D: i32, format: i32, r0: i32, r1: i32): void {
  const chunk = format == F32 ? 4 : format == I8 || format == Q4 ? BLOCK : 8;
  const chunks = (D + chunk - 1) / chunk;
  const group: usize = format == I8 ? 144 : format == Q4 ? 72 : 64;
  for (let r = r0; r < r1; r++) {
    const id = load<i32>(tokens + (<usize>r << 2));
    const dst = out + (<usize>r * D << 2);
    const row = id & 3;
    const tile = table + <usize>(id >> 2) * <usize>chunks * group;
    for (let j = 0; j < chunks; j++) {
      const g = tile + <usize>j * group;
      const n = min(chunk, D - j * chunk);
      const d = dst + (<usize>(j * chunk) << 2);
      if (format == F32) {
        memory.copy(d, g + (<usize>row << 4), <usize>n << 2);
      } else if (format == I8) {
        const scale = load<f32>(g + (<usize>row << 2));
        const q = g + 16 + (<usize>row << 5);
        for (let i = 0; i < n; i++) store<f32>(d + (<usize>i << 2), <f32>load<i8>(q + i) * scale);
      } else if (format == Q4) {                                // signed nibbles: value i in u16 lane i & 7, bits 4·(i >> 3)
        const scale = halfToFloat(<u32>load<u16>(g + (<usize>row << 1)));
        const q = g + 8 + (<usize>row << 4);
        for (let i = 0; i < n; i++) {
          const lane = <i32>load<u16>(q + (<usize>(i & 7) << 1));
          store<f32>(d + (<usize>i << 2), <f32>(((lane << (28 - 4 * (i >> 3))) >> 28)) * scale);
        }
      } else {
        const piece = g + (<usize>row << 4);
        for (let i = 0; i < n; i++) {
          const bits = <u32>load<u16>(piece + (<usize>i << 1));
          store<f32>(d + (<usize>i << 2), format == F16 ? halfToFloat(bits) : bf16ToFloat(bits));
        }
      }
    }
  }
}

/** out[j] = x[rows[j]] (rows of `width` floats), j in j0 .. j1. */
export function gather(out: usize, x: usize, rows: usize, width: i32, j0: i32, j1: i32): void {
  const bytes = <usize>width << 2;
  for (let j = j0; j < j1; j++) memory.copy(out + <usize>j * bytes, x + <usize>load<i32>(rows + (<usize>j << 2)) * bytes, bytes);
}
