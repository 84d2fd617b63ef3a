// Paged causal attention. The K and V pools of one layer are [blocks][kvHeads][blockSize][headDim]; a row's
// sequence lists its blocks in position order (sequences[s] = first row, rows, block table offset, blocks).
import { hsum } from "./common";
import { expv } from "./math";

/** Stores rows' k, v ([R, kvHeads, d]) at their slots (block · bs + offset) for (row, head) pairs p0 .. p1. */
export function kvWrite(Kl: usize, Vl: usize, k: usize, v: usize, slots: usize, kvHeads: i32, d: i32, bs: i32, p0: i32, p1: i32): void {
  const bytes = <usize>d << 2;
  for (let p = p0; p < p1; p++) {
    const r = p / kvHeads, h = p % kvHeads;
    const slot = load<i32>(slots + (<usize>r << 2));
    const block = slot / bs, at = slot % bs;
    const dst = (<usize>((block * kvHeads + h) * bs + at) * d) << 2;
    memory.copy(Kl + dst, k + <usize>p * bytes, bytes);
    memory.copy(Vl + dst, v + <usize>p * bytes, bytes);
  }
}

/**
 * For (row, head) pairs p0 .. p1 of q/out ([R, heads, d]): softmax(scale · q·k (soft-capped) over the row's
 * visible positions) · v. `scores` is this thread's scratch of at least (max position + 1) floats + 4.
 */
export function attention(
  out: usize, q: usize, Kl: usize, Vl: usize, positions: usize, seqOf: usize, sequences: usize, tables: usize,
  heads: i32, kvHeads: i32, d: i32, scale: f32, window: i32, softcap: f32, bs: i32, scores: usize, p0: i32, p1: i32,
): void {
  const group = heads / kvHeads;
  const d4 = d & ~3;
  const rowBytes = <usize>d << 2;
  for (let p = p0; p < p1; p++) {
    const r = p / heads, h = p % heads, kvh = h / group;
    const pos = load<i32>(positions + (<usize>r << 2));
    const seq = load<i32>(seqOf + (<usize>r << 2));
    const table = tables + (<usize>load<i32>(sequences + (<usize>(seq * 4 + 2) << 2)) << 2);
    const from = window > 0 ? max(0, pos - window + 1) : 0;
    const qv = q + <usize>p * rowBytes;
    // scores[j - from] = scale · q · k_j
    let m: f32 = -Infinity;
    for (let j = from; j <= pos; j++) {
      const block = load<i32>(table + (<usize>(j / bs) << 2));
      const kv = Kl + ((<usize>((block * kvHeads + kvh) * bs + j % bs) * d) << 2);
      let acc = f32x4.splat(0);
      for (let i = 0; i < d4; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qv + (<usize>i << 2)), v128.load(kv + (<usize>i << 2))));
      let s = hsum(acc);
      for (let i = d4; i < d; i++) s += load<f32>(qv + (<usize>i << 2)) * load<f32>(kv + (<usize>i << 2));
      s *= scale;
      if (softcap > 0) s = softcap * Mathf.tanh(s / softcap);
      store<f32>(scores + (<usize>(j - from) << 2), s);
      m = max(m, s);
    }
    // e^(s − max), summed
    const n = pos - from + 1;
    const mv = f32x4.splat(m);
    let sv = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const e = expv(f32x4.sub(v128.load(scores + (<usize>j << 2)), mv));
      v128.store(scores + (<usize>j << 2), e);
      sv = f32x4.add(sv, e);
    }
    let sum = hsum(sv);
    for (; j < n; j++) {
      const e = Mathf.exp(load<f32>(scores + (<usize>j << 2)) - m);
      store<f32>(scores + (<usize>j << 2), e);
      sum += e;
    }
    // out = Σ p_j v_j
    const dst = out + <usize>p * rowBytes;
    memory.fill(dst, 0, rowBytes);
    const inv: f32 = <f32>1 / sum;
    for (let jj = from; jj <= pos; jj++) {
      const block = load<i32>(table + (<usize>(jj / bs) << 2));
      const vv = Vl + ((<usize>((block * kvHeads + kvh) * bs + jj % bs) * d) << 2);
      const w: f32 = load<f32>(scores + (<usize>(jj - from) << 2)) * inv;
      const wv = f32x4.splat(w);
      for (let i = 0; i < d4; i += 4) {
        const o = <usize>i << 2;
        v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(wv, v128.load(vv + o))));
      }
      for (let i = d4; i < d; i++) {
        const o = <usize>i << 2;
        store<f32>(dst + o, load<f32>(dst + o) + w * load<f32>(vv + o));
      }
    }
  }
}
