// Row normalizations: RMSNorm and LayerNorm over rows r0 .. r1 of length D; out may alias x.
import { hsum } from "./common";

/** out[r] = x[r] / √(mean(x[r]²) + eps) · w. */
export function rmsnorm(out: usize, x: usize, w: usize, D: i32, eps: f32, r0: i32, r1: i32): void {
  const D4 = D & ~3;
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * D << 2), dst = out + (<usize>r * D << 2);
    let acc = f32x4.splat(0);
    for (let i = 0; i < D4; i += 4) {
      const v = v128.load(src + (<usize>i << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss = hsum(acc);
    for (let i = D4; i < D; i++) {
      const v = load<f32>(src + (<usize>i << 2));
      ss += v * v;
    }
    const inv: f32 = <f32>1 / Mathf.sqrt(ss / <f32>D + eps);
    const iv = f32x4.splat(inv);
    for (let i = 0; i < D4; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.mul(f32x4.mul(v128.load(src + o), iv), v128.load(w + o)));
    }
    for (let i = D4; i < D; i++) {
      const o = <usize>i << 2;
      store<f32>(dst + o, load<f32>(src + o) * inv * load<f32>(w + o));
    }
  }
}

/** out[r] = (x[r] − mean) / √(var + eps) · w + b. */
export function layernorm(out: usize, x: usize, w: usize, b: usize, D: i32, eps: f32, r0: i32, r1: i32): void {
  const D4 = D & ~3;
  for (let r = r0; r < r1; r++) {
    const src = x + (<usize>r * D << 2), dst = out + (<usize>r * D << 2);
    let acc = f32x4.splat(0);
    for (let i = 0; i < D4; i += 4) acc = f32x4.add(acc, v128.load(src + (<usize>i << 2)));
    let sum = hsum(acc);
    for (let i = D4; i < D; i++) sum += load<f32>(src + (<usize>i << 2));
    const mean = sum / <f32>D;
    const mv = f32x4.splat(mean);
    acc = f32x4.splat(0);
    for (let i = 0; i < D4; i += 4) {
      const d = f32x4.sub(v128.load(src + (<usize>i << 2)), mv);
      acc = f32x4.add(acc, f32x4.mul(d, d));
    }
    let v = hsum(acc);
    for (let i = D4; i < D; i++) {
      const d = load<f32>(src + (<usize>i << 2)) - mean;
      v += d * d;
    }
    const inv: f32 = <f32>1 / Mathf.sqrt(v / <f32>D + eps);
    const iv = f32x4.splat(inv);
    for (let i = 0; i < D4; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(v128.load(src + o), mv), iv), v128.load(w + o)), v128.load(b + o)));
    }
    for (let i = D4; i < D; i++) {
      const o = <usize>i << 2;
      store<f32>(dst + o, (load<f32>(src + o) - mean) * inv * load<f32>(w + o) + load<f32>(b + o));
    }
  }
}
