// Arithmetic peak probes (what `WasmKernels.measurePeak` times): register-only loops of the instructions the matrix
// products run on, with enough independent chains to hide their latency and nothing loaded from memory.
import { madd } from "./common";

/** `n` iterations of 12 independent f32x4 multiply-adds (96 flops each; fused in the relaxed build); returns a lane. */
export function peakF32(n: i32, seed: f32): f32 {
  const x = f32x4.splat(seed), y = f32x4.splat(0.999), z = f32x4.splat(1.001);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (let i = 0; i < n; i++) {
    a0 = madd(x, y, a0); a1 = madd(x, z, a1); a2 = madd(x, y, a2); a3 = madd(x, z, a3);
    a4 = madd(x, y, a4); a5 = madd(x, z, a5); a6 = madd(x, y, a6); a7 = madd(x, z, a7);
    a8 = madd(x, y, a8); a9 = madd(x, z, a9); a10 = madd(x, y, a10); a11 = madd(x, z, a11);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}

/**
 * `n` iterations of 8 independent i32x4.dot_i16x8_s + i32x4.add (what the int8 products run on: 8 multiply-adds of
 * int8 values widened to i16 each, 128 integer ops per iteration); returns a lane.
 */
export function peakI16(n: i32, seed: i32): i32 {
  const x = i16x8.splat(<i16>seed), y = i16x8.splat(3), z = i16x8.splat(-2);
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let i = 0; i < n; i++) {
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(x, y)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(x, z));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(x, y)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(x, z));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(x, y)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(x, z));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(x, y)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(x, z));
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0);
}
