// Paged causal attention. The K and V pools of one layer are [blocks][kvHeads][blockSize][headDim]; a row's
// sequence lists its blocks in position order (sequences[s] = first row, rows, block table offset, blocks).
// Work comes in (tile of rows, KV head) units: the rows of a tile and the query heads sharing a KV head read each
// block of keys and values once. Every sequence of a step is in the one op: decode rows are tiles of one row.
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

/** Query rows per tile (the recorder's ATTENTION_TILE): the rows of a tile share every key and value block they read. */
export const TILE: i32 = 4;

/**
 * Flash-style causal attention over the paged cache, for units p0 .. p1 of (tile, KV head): a tile is up to TILE
 * consecutive rows of one sequence (tiles[2t] = first row, tiles[2t + 1] = rows), and each of its rows' query heads
 * in the KV head's group walks the keys one cache block at a time with an online softmax (running max and sum, the
 * output accumulated and rescaled when the max grows): no row of scores over all positions is kept, and a block of
 * keys and values is read once for the whole tile. A row's arithmetic depends only on its own position, window and
 * the block size, never on the tile it shares, so a row gives the same bits in a prefill as decoded alone.
 * `tmp`: this thread's scratch of at least TILE · group · (d + 2) + bs floats (+ 16 for alignment).
 */
export function attention(
  out: usize, q: usize, Kl: usize, Vl: usize, positions: usize, seqOf: usize, sequences: usize, tables: usize, tiles: usize,
  heads: i32, kvHeads: i32, d: i32, scale: f32, window: i32, softcap: f32, bs: i32, tmp: usize, p0: i32, p1: i32,
): void {
  const group = heads / kvHeads;
  const rowBytes = <usize>d << 2;
  const headStride = <usize>bs * rowBytes;                    // one KV head's part of a block
  const acc0 = (tmp + 15) & ~(<usize>15);                     // [TILE · group][d] output sums
  const stats = acc0 + <usize>(TILE * group) * rowBytes;      // [TILE · group][2]: running max, running sum
  const sc = (stats + <usize>(TILE * group * 8) + 15) & ~(<usize>15);  // one block's scores (bs floats)
  const sv = f32x4.splat(scale);
  for (let p = p0; p < p1; p++) {
    const t = p / kvHeads, kvh = p % kvHeads;
    const r0 = load<i32>(tiles + (<usize>(2 * t) << 2)), nr = load<i32>(tiles + (<usize>(2 * t + 1) << 2));
    const seq = load<i32>(seqOf + (<usize>r0 << 2));
    const table = tables + (<usize>load<i32>(sequences + (<usize>(seq * 4 + 2) << 2)) << 2);
    const first = load<i32>(positions + (<usize>r0 << 2));   // the tile's rows hold positions first .. first + nr − 1
    const nq = nr * group;
    memory.fill(acc0, 0, <usize>nq * rowBytes);
    for (let i = 0; i < nq; i++) {
      store<f32>(stats + (<usize>i << 3), -Infinity);
      store<f32>(stats + (<usize>i << 3) + 4, 0);
    }
    const lowest = window > 0 ? max(0, first - window + 1) : 0;
    const last = first + nr - 1;
    for (let b = lowest / bs; b <= last / bs; b++) {
      const block = load<i32>(table + (<usize>b << 2));
      const kb = Kl + <usize>(block * kvHeads + kvh) * headStride, vb = Vl + <usize>(block * kvHeads + kvh) * headStride;
      const j0 = b * bs;
      for (let r = 0; r < nr; r++) {
        const pos = first + r;
        const lo = max(j0, window > 0 ? max(0, pos - window + 1) : 0), hi = min(j0 + bs, pos + 1);
        if (lo >= hi) continue;
        const n = hi - lo;
        for (let g = 0; g < group; g++) {
          const qv = q + <usize>((r0 + r) * heads + kvh * group + g) * rowBytes;
          const i = r * group + g;
          const acc = acc0 + <usize>i * rowBytes, st = stats + (<usize>i << 3);
          // scores of keys lo .. hi
          let j = 0;
          let k = kb + <usize>(lo - j0) * rowBytes;
          if ((d & 3) == 0) for (; j + 4 <= n; j += 4, k += rowBytes << 2) v128.store(sc + (<usize>j << 2), f32x4.mul(dot4(qv, k, d), sv));
          for (; j < n; j++, k += rowBytes) store<f32>(sc + (<usize>j << 2), dot(qv, k, d) * scale);
          if (softcap > 0) for (j = 0; j < n; j++) store<f32>(sc + (<usize>j << 2), softcap * Mathf.tanh(load<f32>(sc + (<usize>j << 2)) / softcap));
          // the running max; what was summed so far is rescaled when it grows
          const old = load<f32>(st);
          let m = old;
          for (j = 0; j < n; j++) m = max(m, load<f32>(sc + (<usize>j << 2)));
          let sum = load<f32>(st + 4);
          if (m > old && old != -Infinity) {
            const f = Mathf.exp(old - m), fv = f32x4.splat(f);
            sum *= f;
            let x = 0;
            for (; x + 4 <= d; x += 4) v128.store(acc + (<usize>x << 2), f32x4.mul(v128.load(acc + (<usize>x << 2)), fv));
            for (; x < d; x++) store<f32>(acc + (<usize>x << 2), load<f32>(acc + (<usize>x << 2)) * f);
          }
          store<f32>(st, m);
          // p_j = exp(s_j − m), their sum, and acc += Σ p_j v_j
          const mv = f32x4.splat(m);
          let ev = f32x4.splat(0);
          for (j = 0; j + 4 <= n; j += 4) {
            const e = expv(f32x4.sub(v128.load(sc + (<usize>j << 2)), mv));
            v128.store(sc + (<usize>j << 2), e);
            ev = f32x4.add(ev, e);
          }
          let part = hsum(ev);
          for (; j < n; j++) {
            const e = Mathf.exp(load<f32>(sc + (<usize>j << 2)) - m);
            store<f32>(sc + (<usize>j << 2), e);
            part += e;
          }
          store<f32>(st + 4, sum + part);
          const v0 = vb + <usize>(lo - j0) * rowBytes;
          let x = 0;
          for (; x + 16 <= d; x += 16) {                        // 16 sums in registers over the block's keys
            const off = <usize>x << 2;
            let a0 = v128.load(acc + off), a1 = v128.load(acc + off + 16), a2 = v128.load(acc + off + 32), a3 = v128.load(acc + off + 48);
            let v = v0 + off;
            for (j = 0; j < n; j++, v += rowBytes) {
              const w = v128.load32_splat(sc + (<usize>j << 2));
              a0 = f32x4.add(a0, f32x4.mul(w, v128.load(v)));
              a1 = f32x4.add(a1, f32x4.mul(w, v128.load(v + 16)));
              a2 = f32x4.add(a2, f32x4.mul(w, v128.load(v + 32)));
              a3 = f32x4.add(a3, f32x4.mul(w, v128.load(v + 48)));
            }
            v128.store(acc + off, a0);
            v128.store(acc + off + 16, a1);
            v128.store(acc + off + 32, a2);
            v128.store(acc + off + 48, a3);
          }
          if (x < d) {                                          // head sizes not a multiple of 16
            let v = v0;
            for (j = 0; j < n; j++, v += rowBytes) axpy(acc + (<usize>x << 2), v + (<usize>x << 2), load<f32>(sc + (<usize>j << 2)), d - x);
          }
        }
      }
    }
    // out = acc / sum
    for (let r = 0; r < nr; r++) {
      for (let g = 0; g < group; g++) {
        const i = r * group + g;
        const acc = acc0 + <usize>i * rowBytes, dst = out + <usize>((r0 + r) * heads + kvh * group + g) * rowBytes;
        const inv: f32 = <f32>1 / load<f32>(stats + (<usize>i << 3) + 4), iv = f32x4.splat(inv);
        let x = 0;
        for (; x + 4 <= d; x += 4) v128.store(dst + (<usize>x << 2), f32x4.mul(v128.load(acc + (<usize>x << 2)), iv));
        for (; x < d; x++) store<f32>(dst + (<usize>x << 2), load<f32>(acc + (<usize>x << 2)) * inv);
      }
    }
  }
}
