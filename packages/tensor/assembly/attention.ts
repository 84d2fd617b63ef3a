// Paged causal attention. The K and V pools of one layer are [blocks][kvHeads][blockSize][headDim]; a row's
// sequence lists its blocks in position order (sequences[s] = first row, rows, block table offset, blocks).
// Work comes in (row, KV head) pairs: the query heads sharing a KV head read each key and value once.
import { hsum, reduce4 } from "./common";
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

/** [q·k0, q·k1, q·k2, q·k3] for four consecutive keys (rows of d floats from k0), d a multiple of 4. */
@inline function dot4(q: usize, k0: usize, d: i32): v128 {
  const rowBytes = <usize>d << 2;
  const k1 = k0 + rowBytes, k2 = k1 + rowBytes, k3 = k2 + rowBytes;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let i = 0; i < d; i += 4) {
    const o = <usize>i << 2;
    const qv = v128.load(q + o);
    a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + o)));
    a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + o)));
    a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + o)));
    a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + o)));
  }
  return reduce4(a0, a1, a2, a3);
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
      if ((d & 3) == 0) {
        const sv = f32x4.splat(scale);
        for (; j + 4 <= end; j += 4, k += rowBytes << 2) {
          for (let g = 0; g < group; g++) {
            v128.store(scores + <usize>g * stride + (<usize>(j - from) << 2), f32x4.mul(dot4(q0 + <usize>g * rowBytes, k, d), sv));
          }
        }
      }
      for (; j < end; j++, k += rowBytes) {
        for (let g = 0; g < group; g++) store<f32>(scores + <usize>g * stride + (<usize>(j - from) << 2), dot(q0 + <usize>g * rowBytes, k, d) * scale);
      }
    }
    // softmax of each head's scores, then out_g = Σ_j p_gj · v_j
    for (let g = 0; g < group; g++) {
      const sc = scores + <usize>g * stride;
      if (softcap > 0) for (let j = 0; j < n; j++) store<f32>(sc + (<usize>j << 2), softcap * Mathf.tanh(load<f32>(sc + (<usize>j << 2)) / softcap));
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
      // out[i .. i+16) = Σ_j p_j v_j[i .. i+16), the 16 sums held in registers over all positions
      let i = 0;
      for (; i + 16 <= d; i += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        const off = <usize>i << 2;
        for (let jj = from; jj <= pos;) {
          const block = load<i32>(table + (<usize>(jj / bs) << 2));
          const end = min(pos + 1, (jj / bs + 1) * bs);
          let v = Vl + <usize>(block * kvHeads + kvh) * headStride + <usize>(jj % bs) * rowBytes + off;
          for (; jj < end; jj++, v += rowBytes) {
            const w = v128.load32_splat(sc + (<usize>(jj - from) << 2));
            a0 = f32x4.add(a0, f32x4.mul(w, v128.load(v)));
            a1 = f32x4.add(a1, f32x4.mul(w, v128.load(v + 16)));
            a2 = f32x4.add(a2, f32x4.mul(w, v128.load(v + 32)));
            a3 = f32x4.add(a3, f32x4.mul(w, v128.load(v + 48)));
          }
        }
        const iv = f32x4.splat(inv);
        v128.store(dst + off, f32x4.mul(a0, iv));
        v128.store(dst + off + 16, f32x4.mul(a1, iv));
        v128.store(dst + off + 32, f32x4.mul(a2, iv));
        v128.store(dst + off + 48, f32x4.mul(a3, iv));
      }
      if (i < d) {                                              // head sizes not a multiple of 16
        const rest = d - i;
        memory.fill(dst + (<usize>i << 2), 0, <usize>rest << 2);
        for (let jj = from; jj <= pos;) {
          const block = load<i32>(table + (<usize>(jj / bs) << 2));
          const end = min(pos + 1, (jj / bs + 1) * bs);
          let v = Vl + <usize>(block * kvHeads + kvh) * headStride + <usize>(jj % bs) * rowBytes + (<usize>i << 2);
          for (; jj < end; jj++, v += rowBytes) axpy(dst + (<usize>i << 2), v, load<f32>(sc + (<usize>(jj - from) << 2)) * inv, rest);
        }
      }
    }
  }
}
