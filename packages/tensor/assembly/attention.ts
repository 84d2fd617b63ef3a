// Paged causal attention. The K and V pools of one layer are [blocks][kvHeads][blockSize][headDim]; a row's
// sequence lists its blocks in position order (sequences[s] = first row, rows, block table offset, blocks).
// Work comes in (row, KV head) pairs: the query heads sharing a KV head read each key and value once.
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

/** q · k over d values (d a multiple of 4 in the vector part). */
@inline function dot(q: usize, k: usize, d: i32): f32 {
  const d4 = d & ~3;
  let acc = f32x4.splat(0);
  for (let i = 0; i < d4; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>i << 2)), v128.load(k + (<usize>i << 2))));
  let s = hsum(acc);
  for (let i = d4; i < d; i++) s += load<f32>(q + (<usize>i << 2)) * load<f32>(k + (<usize>i << 2));
  return s;
}

/** out += w · v over d values. */
@inline function axpy(out: usize, v: usize, w: f32, d: i32): void {
  const d4 = d & ~3;
  const wv = f32x4.splat(w);
  for (let i = 0; i < d4; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(out + o), f32x4.mul(wv, v128.load(v + o))));
  }
  for (let i = d4; i < d; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(out + o) + w * load<f32>(v + o));
  }
}

/**
 * For (row, KV head) pairs p0 .. p1, each query head h of the pair's group: out[r, h] = softmax(scale · q·k over
 * the row's visible positions, soft-capped when softcap > 0) · v. `scores` is this thread's scratch of at least
 * group · (max position + 1) floats.
 */
export function attention(
  out: usize, q: usize, Kl: usize, Vl: usize, positions: usize, seqOf: usize, sequences: usize, tables: usize,
  heads: i32, kvHeads: i32, d: i32, scale: f32, window: i32, softcap: f32, bs: i32, scores: usize, p0: i32, p1: i32,
): void {
  const group = heads / kvHeads;
  const rowBytes = <usize>d << 2;
  const headStride = <usize>bs * rowBytes;                    // one KV head's part of a block
  for (let p = p0; p < p1; p++) {
    const r = p / kvHeads, kvh = p % kvHeads;
    const pos = load<i32>(positions + (<usize>r << 2));
    const seq = load<i32>(seqOf + (<usize>r << 2));
    const table = tables + (<usize>load<i32>(sequences + (<usize>(seq * 4 + 2) << 2)) << 2);
    const from = window > 0 ? max(0, pos - window + 1) : 0;
    const n = pos - from + 1;
    const q0 = q + <usize>(r * heads + kvh * group) * rowBytes;  // the group's first query head
    const o0 = out + <usize>(r * heads + kvh * group) * rowBytes;
    const stride = <usize>n << 2;                               // scores: one row of n per query head
    // scores[g][j − from] = scale · q_g · k_j, block by block
    for (let j = from; j <= pos;) {
      const block = load<i32>(table + (<usize>(j / bs) << 2));
      const end = min(pos + 1, (j / bs + 1) * bs);
      let k = Kl + <usize>(block * kvHeads + kvh) * headStride + <usize>(j % bs) * rowBytes;
      for (; j < end; j++, k += rowBytes) {
        for (let g = 0; g < group; g++) {
          let s = dot(q0 + <usize>g * rowBytes, k, d) * scale;
          if (softcap > 0) s = softcap * Mathf.tanh(s / softcap);
          store<f32>(scores + <usize>g * stride + (<usize>(j - from) << 2), s);
        }
      }
    }
    // softmax of each head's scores, then out_g = Σ_j p_gj · v_j
    for (let g = 0; g < group; g++) {
      const sc = scores + <usize>g * stride;
      let m: f32 = -Infinity;
      for (let j = 0; j < n; j++) m = max(m, load<f32>(sc + (<usize>j << 2)));
      const mv = f32x4.splat(m);
      let sv = f32x4.splat(0);
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const e = expv(f32x4.sub(v128.load(sc + (<usize>j << 2)), mv));
        v128.store(sc + (<usize>j << 2), e);
        sv = f32x4.add(sv, e);
      }
      let sum = hsum(sv);
      for (; j < n; j++) {
        const e = Mathf.exp(load<f32>(sc + (<usize>j << 2)) - m);
        store<f32>(sc + (<usize>j << 2), e);
        sum += e;
      }
      const inv: f32 = <f32>1 / sum;
      const dst = o0 + <usize>g * rowBytes;
      memory.fill(dst, 0, rowBytes);
      for (let jj = from; jj <= pos;) {
        const block = load<i32>(table + (<usize>(jj / bs) << 2));
        const end = min(pos + 1, (jj / bs + 1) * bs);
        let v = Vl + <usize>(block * kvHeads + kvh) * headStride + <usize>(jj % bs) * rowBytes;
        for (; jj < end; jj++, v += rowBytes) axpy(dst, v, load<f32>(sc + (<usize>(jj - from) << 2)) * inv, d);
      }
    }
  }
}
