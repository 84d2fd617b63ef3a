// Arithmetic peak probes (what `WasmKernels.measurePeak` times): loops of the instructions the matrix products run
// on, over operands loaded from 16 vectors that stay in L1 (rotating, so that the compiler can neither hoist nor
// share a product), with enough independent sums to hide their latency.
import { madd } from "./common";

/**
 * `n` iterations of 8 f32x4 multiply-adds of 2 × 4 distinct operand vectors at p (1 KiB) into 8 sums, the float32
 * register tile's pattern (64 flops each; fused in the relaxed build, else a multiply and an add); returns a lane.
 */
export function peakF32(n: i32, p: usize): f32 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let i = 0; i < n; i++) {
    const q = p + (<usize>(i & 15) << 4);
    const x0 = v128.load(q), x1 = v128.load(q, 256);
    let w = v128.load(q, 512);
    a0 = madd(x0, w, a0); a4 = madd(x1, w, a4);
    w = v128.load(q, 768);
    a1 = madd(x0, w, a1); a5 = madd(x1, w, a5);
    w = v128.load(q, 528);
    a2 = madd(x0, w, a2); a6 = madd(x1, w, a6);
    w = v128.load(q, 784);
    a3 = madd(x0, w, a3); a7 = madd(x1, w, a7);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0);
}

/**
 * `n` iterations of 8 i32x4.dot_i16x8_s, each added into its own sum, over operand vectors at p (1 KiB): what the int8
 * products run on (8 multiply-adds of int8 values widened to i16 each: 128 integer ops per iteration); returns a lane.
 */
export function peakI16(n: i32, p: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let i = 0; i < n; i++) {
    const q = p + (<usize>(i & 15) << 4);
    const x = v128.load(q), y = v128.load(q, 256), z = v128.load(q, 512);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, y)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x, z));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(y, z)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(x, y));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(x, z)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(y, z));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(x, y)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(x, z));
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0);
}
