// Elementwise ops over indices i0 .. i1: gated activations, activations, add, scale, soft-capping.
import { geluv, relu2v, siluv, tanhv } from "./math";

/** Activation codes (the recorder's numbering). */
export const SILU: i32 = 0, GELU_TANH: i32 = 1, RELU2: i32 = 2;

@inline function activate(x: v128, act: i32): v128 {
  if (act == SILU) return siluv(x);
  if (act == GELU_TANH) return geluv(x);
  return relu2v(x);
}

/** out[i] = act(gate[i]) · up[i]; the last partial vector goes through a 4-lane buffer at `tmp`. */
export function glu(out: usize, gate: usize, up: usize, act: i32, i0: i32, i1: i32, tmp: usize): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(activate(v128.load(gate + o), act), v128.load(up + o)));
  }
  if (i < i1) {
    const n = <usize>(i1 - i) << 2, o = <usize>i << 2;
    memory.copy(tmp, gate + o, n);
    memory.copy(tmp + 16, up + o, n);
    v128.store(tmp, f32x4.mul(activate(v128.load(tmp), act), v128.load(tmp + 16)));
    memory.copy(out + o, tmp, n);
  }
}

/** out[i] = act(x[i]). */
export function activation(out: usize, x: usize, act: i32, i0: i32, i1: i32, tmp: usize): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, activate(v128.load(x + o), act));
  }
  if (i < i1) {
    const n = <usize>(i1 - i) << 2, o = <usize>i << 2;
    memory.copy(tmp, x + o, n);
    v128.store(tmp, activate(v128.load(tmp), act));
    memory.copy(out + o, tmp, n);
  }
}

/** out[i] = a[i] + b[i]. */
export function add(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** out[i] = x[i] · s. */
export function scale(out: usize, x: usize, s: f32, i0: i32, i1: i32): void {
  const sv = f32x4.splat(s);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(x + o), sv));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * s);
  }
}

/** out[i] = cap · tanh(x[i] / cap). */
export function softcap(out: usize, x: usize, cap: f32, i0: i32, i1: i32, tmp: usize): void {
  const c = f32x4.splat(cap), inv = f32x4.splat(<f32>1 / cap);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(c, tanhv(f32x4.mul(v128.load(x + o), inv))));
  }
  if (i < i1) {
    const n = <usize>(i1 - i) << 2, o = <usize>i << 2;
    memory.copy(tmp, x + o, n);
    v128.store(tmp, f32x4.mul(c, tanhv(f32x4.mul(v128.load(tmp), inv))));
    memory.copy(out + o, tmp, n);
  }
}

/** out = Σ x[i] over i0 .. i1 (multiples of 16 apart): reads memory as fast as it can, for the bandwidth probe. */
export function sum(out: usize, x: usize, i0: i32, i1: i32): void {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  for (let i = i0; i + 16 <= i1; i += 16) {
    const p = x + (<usize>i << 2);
    a = f32x4.add(a, v128.load(p));
    b = f32x4.add(b, v128.load(p + 16));
    c = f32x4.add(c, v128.load(p + 32));
    d = f32x4.add(d, v128.load(p + 48));
  }
  v128.store(out, f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
}
