// Row moves: embedding lookup (any weight format, decoded to f32) and gathering the rows that need logits.
import { bf16ToFloat, halfToFloat } from "./common";
import { BLOCK } from "./matmul-i8";

/** Weight formats, as the recorder numbers them. */
export const F32: i32 = 0, F16: i32 = 1, BF16: i32 = 2, I8: i32 = 3;

/** out[r] = table[tokens[r]] decoded to f32, rows r0 .. r1 (D values each; int8 rows stored with `stride`). */
export function embed(out: usize, table: usize, scales: usize, tokens: usize, D: i32, format: i32, stride: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const id = load<i32>(tokens + (<usize>r << 2));
    const dst = out + (<usize>r * D << 2);
    if (format == F32) {
      memory.copy(dst, table + (<usize>id * D << 2), <usize>D << 2);
    } else if (format == I8) {
      const src = table + <usize>id * stride;
      const sc = scales + (<usize>(id * (stride / BLOCK)) << 2);
      for (let i = 0; i < D; i++) store<f32>(dst + (<usize>i << 2), <f32>load<i8>(src + i) * load<f32>(sc + (<usize>(i / BLOCK) << 2)));
    } else {
      const src = table + (<usize>id * D << 1);
      for (let i = 0; i < D; i++) {
        const bits = <u32>load<u16>(src + (<usize>i << 1));
        store<f32>(dst + (<usize>i << 2), format == F16 ? halfToFloat(bits) : bf16ToFloat(bits));
      }
    }
  }
}

/** out[j] = x[rows[j]] (rows of `width` floats), j in j0 .. j1. */
export function gather(out: usize, x: usize, rows: usize, width: i32, j0: i32, j1: i32): void {
  const bytes = <usize>width << 2;
  for (let j = j0; j < j1; j++) memory.copy(out + <usize>j * bytes, x + <usize>load<i32>(rows + (<usize>j << 2)) * bytes, bytes);
}
