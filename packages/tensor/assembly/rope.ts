// Rotary embedding in place, rotate-half pairing (i, i + rot/2) over the first `rot` dims of each head;
// row r uses the angles of positions[r] from the cos/sin tables ([positions, rot/2]).

/** Rotates (row, head) pairs p0 .. p1 (p = row · heads + head) of x: [R, heads, headDim]. */
export function rope(x: usize, cos: usize, sin: usize, positions: usize, heads: i32, headDim: i32, rot: i32, p0: i32, p1: i32): void {
  const half = rot >> 1;
  const H4 = half & ~3;
  for (let p = p0; p < p1; p++) {
    const r = p / heads;
    const base = x + (<usize>p * headDim << 2);
    const t = <usize>load<i32>(positions + (<usize>r << 2)) * half << 2;
    const c = cos + t, s = sin + t;
    for (let i = 0; i < H4; i += 4) {
      const o = <usize>i << 2;
      const a = v128.load(base + o), e = v128.load(base + o + (<usize>half << 2));
      const cv = v128.load(c + o), sv = v128.load(s + o);
      v128.store(base + o, f32x4.sub(f32x4.mul(a, cv), f32x4.mul(e, sv)));
      v128.store(base + o + (<usize>half << 2), f32x4.add(f32x4.mul(e, cv), f32x4.mul(a, sv)));
    }
    for (let i = H4; i < half; i++) {
      const o = <usize>i << 2;
      const a = load<f32>(base + o), e = load<f32>(base + o + (<usize>half << 2));
      const cv = load<f32>(c + o), sv = load<f32>(s + o);
      store<f32>(base + o, a * cv - e * sv);
      store<f32>(base + o + (<usize>half << 2), e * cv + a * sv);
    }
  }
}
