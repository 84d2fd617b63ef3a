// Learned position embeddings (GPT-2): each row adds its position's row of a float32 table.

/** x[r] += table[positions[r]] over rows r0 .. r1 of D floats (table: [positions, D], flat). */
export function addPositions(x: usize, table: usize, positions: usize, D: i32, r0: i32, r1: i32): void {
  const bytes = <usize>D << 2;
  for (let r = r0; r < r1; r++) {
    const dst = x + <usize>r * bytes;
    const src = table + <usize>load<i32>(positions + (<usize>r << 2)) * bytes;
    let i = 0;
    for (; i + 4 <= D; i += 4) {
      const o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; i < D; i++) {
      const o = <usize>i << 2;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}
