// Vector math: exp, and the activations built on it, four lanes at a time (relative error ~2e-7).

/** e^x lane-wise: 2^n · p(r), x = n·ln2 + r, |r| ≤ ln2/2, p the degree-6 Taylor polynomial; underflows to 0 below −87. */
@inline export function expv(x: v128): v128 {
  const c = f32x4.max(f32x4.min(x, f32x4.splat(88)), f32x4.splat(-87.3));
  const n = f32x4.nearest(f32x4.mul(c, f32x4.splat(1.4426950408889634)));
  const r = f32x4.sub(f32x4.sub(c, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 720);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

/** x · sigmoid(x). */
@inline export function siluv(x: v128): v128 {
  return f32x4.div(x, f32x4.add(f32x4.splat(1), expv(f32x4.neg(x))));
}

/** tanh(x) = 1 − 2 / (e^{2x} + 1). */
@inline export function tanhv(x: v128): v128 {
  return f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(expv(f32x4.add(x, x)), f32x4.splat(1))));
}

/** The tanh approximation of GELU: x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³))). */
@inline export function geluv(x: v128): v128 {
  const inner = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(x, f32x4.mul(f32x4.splat(0.044715), f32x4.mul(x, f32x4.mul(x, x)))));
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), tanhv(inner)));
}

/** max(x, 0)². */
@inline export function relu2v(x: v128): v128 {
  const m = f32x4.max(x, f32x4.splat(0));
  return f32x4.mul(m, m);
}
