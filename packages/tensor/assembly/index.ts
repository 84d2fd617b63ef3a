// The kernel module: a command-list interpreter that every thread runs over the same shared memory. The JS
// side records ops (records of 32 words, laid out by src/wasm/op-table.ts) cut into chunks, and flags an op that must wait for earlier ones. Threads
// claim chunks from per-op counters, so a thread that is late (or not scheduled at all) only does less of the
// work and is never waited for. Helper threads park in `helperLoop` between lists.
import { attention, kvWrite } from "./attention";
import { setAccumulating } from "./common";
import { activation, add, glu, scale, softcap, sum } from "./elementwise";
import { matmulBF16, matmulF16, prepareHalves } from "./matmul-half";
import { matmulF32 } from "./matmul-f32";
import { matmulI8, quantizeRows } from "./matmul-i8";
import { matmulQ4 } from "./matmul-q4";
import { layernorm, rmsnorm } from "./norm";
import { addPositions } from "./positions";
import {
  ActivationRecord, AddPositionsRecord, GatedMatmulRecord, GluQuantizeRecord, RopeKvWriteRecord, RmsnormQuantizeRecord, RmsnormTernaryRecord, AddRecord, AttentionRecord, EmbedRecord, EmbedTernaryRecord, GatherRecord, GluRecord, KvWriteRecord,
  LayernormRecord, MatmulF32Record, MatmulI8Record, MatmulQ4Record, MatmulTernaryRecord, OpHeader, Opcode, PrepareHalvesRecord, PrepareTernaryRecord,
  QuantizeRecord, RECORD_WORDS, RmsnormRecord, RopeRecord, ScaleRecord, SoftcapRecord, SumRecord,
} from "./op-records";
import { rope } from "./rope";
import { embed, gather } from "./rows";
import { embedTernary, matmulTernary, prepareTernary } from "./ternary";

// ---- control block (byte offsets from `ctrl`) ----
const GEN = 0;        // bumped by the model thread to start a list
const LIST = 4;       // command list address
const COUNT = 8;      // ops in it
const COUNTERS = 12;  // per op: [claim = (generation << 20) | next chunk, chunks done]
const STOP = 24;      // 1: helpers leave their loop
const SCRATCH = 32;   // per-thread scratch base
const STRIDE = 36;    // per-thread scratch bytes
const FAULT = 40;     // 1: a thread trapped; the others stop waiting
/** Spins before a thread waiting inside a list naps (a wait there is short: another thread finishing a chunk). */
const SPIN: i32 = 1 << 14;
/** Spins before an idle helper sleeps (a few hundred microseconds: about the gap between two decode steps). */
const IDLE_SPIN: i32 = 1 << 17;

/** Flag of an op that waits for the ops since the last barrier (records: op-records.ts, generated from the op table). */
const BARRIER: i32 = 1;
const GEN_BITS: i32 = 0xfff;
const CHUNK_BITS: i32 = 0xfffff;

/** Spins, then naps in short sleeps (nobody wakes a waiter here: whoever it waits for just finishes). */
@inline function pause(spins: i32, ctrl: usize): void {
  if (atomic.load<i32>(ctrl + FAULT) != 0) unreachable();
  if (spins > SPIN) atomic.wait<i32>(ctrl + FAULT, 0, 50_000);
}

/**
 * Waits until every chunk of ops from .. to has been done; false when the list went stale meanwhile (a helper
 * that fell behind a whole list).
 */
function waitDone(ctrl: usize, list: usize, counters: usize, from: i32, to: i32, gen: i32): bool {
  for (let j = from; j < to; j++) {
    const chunks = changetype<OpHeader>(list + <usize>(j * RECORD_WORDS) * 4).chunks;
    let spins = 0;
    while (atomic.load<i32>(counters + <usize>(j * 2 + 1) * 4) < chunks) {
      if (atomic.load<i32>(ctrl + GEN) != gen) return false;
      pause(++spins, ctrl);
    }
  }
  return true;
}

/**
 * Runs list `gen` (its address, ops and counters from the control block) on this thread: for each op, claims
 * chunks until none are left and does them. An op flagged BARRIER first waits until the ops since the last
 * barrier are done. An op of one chunk (a single row's norm, rope, ...) is the model thread's: helpers skip it
 * without waiting, so a run of small dependent ops costs no cross-thread synchronization. A thread that comes
 * late finds fewer chunks; one that falls a whole list behind finds the claim counters tagged with a newer
 * generation and leaves. The model thread (`last`) returns only once every op is done, after closing the counters.
 */
function runList(ctrl: usize, gen: i32, tid: i32, last: bool): void {
  const list = <usize><u32>atomic.load<i32>(ctrl + LIST);
  const counters = <usize><u32>atomic.load<i32>(ctrl + COUNTERS);
  const count = atomic.load<i32>(ctrl + COUNT);
  const tag = (gen & GEN_BITS) << 20;
  const tmp = <usize><u32>load<i32>(ctrl + SCRATCH) + <usize>tid * <usize><u32>load<i32>(ctrl + STRIDE);
  let segment = 0;
  for (let i = 0; i < count; i++) {
    const op = list + <usize>(i * RECORD_WORDS) * 4;
    const header = changetype<OpHeader>(op);
    const chunks = header.chunks;
    if (chunks == 1 && tid != 0) {                             // a serial op: the model thread's alone; helpers
      if (header.flags & BARRIER) segment = i;                 // go on to the next op they can share (its barrier
      continue;                                                // waits for this one too)
    }
    if (header.flags & BARRIER) {
      if (!waitDone(ctrl, list, counters, segment, i, gen)) return;
      segment = i;
    }
    const claim = counters + <usize>(i * 2) * 4;
    while (true) {
      const v = atomic.load<i32>(claim);
      if ((v & ~CHUNK_BITS) != tag) return;                       // a newer list replaced this one
      const c = v & CHUNK_BITS;
      if (c >= chunks) break;
      if (atomic.cmpxchg<i32>(claim, v, v + 1) != v) continue;
      execute(op, c, tmp);
      atomic.add<i32>(claim + 4, 1);
    }
  }
  if (!last) return;
  waitDone(ctrl, list, counters, segment, count, gen);
  // Close every claim counter before the model thread records the next list over these records: a helper still
  // walking this list (descheduled mid-list) must find no chunk left to claim here, not a half-written record.
  const closed = (((gen + 1) & GEN_BITS) << 20) | CHUNK_BITS;
  for (let i = 0; i < count; i++) atomic.store<i32>(counters + <usize>(i * 2) * 4, closed);
}

/** The model thread: runs the list just published as generation `gen`, returning once all of it is done. */
export function run(ctrl: usize, gen: i32): void {
  runList(ctrl, gen, 0, true);
}

/** A helper thread's life: wait for a list newer than `seen` (spin, then sleep), help run it, until STOP. */
export function helperLoop(ctrl: usize, tid: i32, seen: i32): void {
  while (true) {
    let spins = 0;
    while (atomic.load<i32>(ctrl + GEN) == seen) {
      if (++spins > IDLE_SPIN) {
        atomic.wait<i32>(ctrl + GEN, seen, -1);
        spins = 0;
      }
    }
    seen = atomic.load<i32>(ctrl + GEN);
    if (atomic.load<i32>(ctrl + STOP) != 0) return;
    runList(ctrl, seen, tid, false);
  }
}

/** Columns n0 .. n1 of out = x · wᵀ for weights stored as `format` (0 float32, 1 float16, 2 bfloat16, 3 int8, 4 ternary, 5 q4), no bias. */
function product(format: i32, out: usize, x: usize, scales: usize, sums: usize, w: usize, R: i32, N: i32, K: i32, Kp: i32, tmp: usize, n0: i32, n1: i32): void {
  if (format == 0) matmulF32(out, x, w, R, N, K, 0, n0, n1);
  else if (format == 1) matmulF16(out, x, w, R, N, K, 0, tmp, n0, n1);
  else if (format == 2) matmulBF16(out, x, w, R, N, K, 0, tmp, n0, n1);
  else if (format == 3) matmulI8(out, x, scales, w, R, N, Kp, 0, tmp, n0, n1);
  else if (format == 5) matmulQ4(out, x, scales, w, R, N, Kp, 0, tmp, n0, n1);
  else matmulTernary(out, x, scales, sums, w, R, N, Kp, 0, tmp, n0, n1);
}

/** Start and end of chunk `c` of `total` items in chunks of `size`. */
@inline function from(c: i32, size: i32): i32 {
  return c * size;
}
@inline function upto(c: i32, size: i32, total: i32): i32 {
  return min(total, (c + 1) * size);
}

/** Does chunk `c` of one op (chunk size in the header, in the op's own unit: output columns, rows, pairs or elements). */
function execute(op: usize, c: i32, tmp: usize): void {
  const size = changetype<OpHeader>(op).size;
  switch (changetype<OpHeader>(op).opcode) {
    case Opcode.matmulF32: case Opcode.matmulF16: case Opcode.matmulBF16: {   // chunks of output columns
      const a = changetype<MatmulF32Record>(op);                              // the three share one layout
      const n0 = from(c, size), n1 = upto(c, size, a.N);
      setAccumulating(a.accumulate != 0);
      if (a.opcode == Opcode.matmulF32) matmulF32(a.out, a.x, a.w, a.rows, a.N, a.K, a.bias, n0, n1);
      else if (a.opcode == Opcode.matmulF16) matmulF16(a.out, a.x, a.w, a.rows, a.N, a.K, a.bias, tmp, n0, n1);
      else matmulBF16(a.out, a.x, a.w, a.rows, a.N, a.K, a.bias, tmp, n0, n1);
      break;
    }
    case Opcode.matmulI8: {
      const a = changetype<MatmulI8Record>(op);
      setAccumulating(a.accumulate != 0);
      matmulI8(a.out, a.x, a.scales, a.w, a.rows, a.N, a.Kp, a.bias, tmp, from(c, size), upto(c, size, a.N));
      break;
    }
    case Opcode.matmulQ4: {                                                   // activations as for int8
      const a = changetype<MatmulQ4Record>(op);
      setAccumulating(a.accumulate != 0);
      matmulQ4(a.out, a.x, a.scales, a.w, a.rows, a.N, a.Kp, a.bias, tmp, from(c, size), upto(c, size, a.N));
      break;
    }
    case Opcode.quantize: {                                                   // rows to int8 (as i16)
      const a = changetype<QuantizeRecord>(op);
      quantizeRows(a.q, a.scales, a.x, a.K, a.Kp, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.rmsnorm: {
      const a = changetype<RmsnormRecord>(op);
      rmsnorm(a.out, a.x, a.w, a.D, a.eps, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.layernorm: {
      const a = changetype<LayernormRecord>(op);
      layernorm(a.out, a.x, a.w, a.b, a.D, a.eps, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.rope: {                                                       // chunks of (row, head) pairs
      const a = changetype<RopeRecord>(op);
      rope(a.x, a.cos, a.sin, a.positions, a.heads, a.headDim, a.rotaryDim, from(c, size), upto(c, size, a.rows * a.heads));
      break;
    }
    case Opcode.kvWrite: {                                                    // chunks of (row, KV head) pairs
      const a = changetype<KvWriteRecord>(op);
      kvWrite(a.K, a.V, a.k, a.v, a.slots, a.kvHeads, a.headDim, a.blockSize, from(c, size), upto(c, size, a.rows * a.kvHeads));
      break;
    }
    case Opcode.attention: {                                                  // chunks of (tile, KV head) units
      const a = changetype<AttentionRecord>(op);
      attention(a.out, a.q, a.K, a.V, a.positions, a.seqOf, a.sequences, a.tables, a.tiles, a.heads, a.kvHeads, a.headDim, a.scale,
        a.window, a.softcap, a.blockSize, tmp, from(c, size), upto(c, size, a.tileCount * a.kvHeads));
      break;
    }
    case Opcode.glu: {                                                        // chunks of elements
      const a = changetype<GluRecord>(op);
      glu(a.out, a.gate, a.up, a.act, from(c, size), upto(c, size, a.n), tmp);
      break;
    }
    case Opcode.activation: {
      const a = changetype<ActivationRecord>(op);
      activation(a.out, a.x, a.act, from(c, size), upto(c, size, a.n), tmp);
      break;
    }
    case Opcode.add: {
      const a = changetype<AddRecord>(op);
      add(a.out, a.a, a.b, from(c, size), upto(c, size, a.n));
      break;
    }
    case Opcode.scale: {
      const a = changetype<ScaleRecord>(op);
      scale(a.out, a.x, a.s, from(c, size), upto(c, size, a.n));
      break;
    }
    case Opcode.softcap: {
      const a = changetype<SoftcapRecord>(op);
      softcap(a.out, a.x, a.cap, from(c, size), upto(c, size, a.n), tmp);
      break;
    }
    case Opcode.embed: {                                                      // chunks of rows
      const a = changetype<EmbedRecord>(op);
      embed(a.out, a.table, a.tokens, a.K, a.format, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.gather: {
      const a = changetype<GatherRecord>(op);
      gather(a.out, a.x, a.outputRows, a.width, from(c, size), upto(c, size, a.outputs));
      break;
    }
    case Opcode.prepareHalves: {                                              // activations for 16-bit weights
      const a = changetype<PrepareHalvesRecord>(op);
      prepareHalves(a.out, a.x, a.K, a.scale, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.addPositions: {                                               // learned position embeddings, chunks of rows
      const a = changetype<AddPositionsRecord>(op);
      addPositions(a.x, a.table, a.positions, a.width, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.prepareTernary: {                                             // activations for ternary weights, chunks of rows
      const a = changetype<PrepareTernaryRecord>(op);
      prepareTernary(a.q, a.scales, a.sums, a.x, a.K, a.Kp, tmp, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.matmulTernary: {                                              // chunks of output columns
      const a = changetype<MatmulTernaryRecord>(op);
      setAccumulating(a.accumulate != 0);
      matmulTernary(a.out, a.x, a.scales, a.sums, a.w, a.rows, a.N, a.Kp, a.bias, tmp, from(c, size), upto(c, size, a.N));
      break;
    }
    case Opcode.embedTernary: {
      const a = changetype<EmbedTernaryRecord>(op);
      embedTernary(a.out, a.table, a.tokens, a.N, a.K, from(c, size), upto(c, size, a.rows));
      break;
    }
    case Opcode.rmsnormQuantize: {                                            // chunks of rows
      const a = changetype<RmsnormQuantizeRecord>(op);
      const r0 = from(c, size), r1 = upto(c, size, a.rows);
      rmsnorm(a.out, a.x, a.w, a.D, a.eps, r0, r1);
      quantizeRows(a.q, a.scales, a.out, a.D, a.Kp, r0, r1);
      break;
    }
    case Opcode.rmsnormTernary: {                                             // chunks of rows
      const a = changetype<RmsnormTernaryRecord>(op);
      const r0 = from(c, size), r1 = upto(c, size, a.rows);
      rmsnorm(a.out, a.x, a.w, a.D, a.eps, r0, r1);
      prepareTernary(a.q, a.scales, a.sums, a.out, a.D, a.Kp, tmp, r0, r1);
      break;
    }
    case Opcode.ropeQk: case Opcode.ropeKvWrite: {                           // chunks of (row, head) units, q's heads then k's
      const a = changetype<RopeKvWriteRecord>(op);                            // ropeQk's slots are its first ones
      const units = a.heads + a.kvHeads, write = a.opcode == Opcode.ropeKvWrite;
      for (let u = from(c, size), u1 = upto(c, size, a.rows * units); u < u1; u++) {
        const r = u / units, h = u % units;
        if (h < a.heads) {
          rope(a.q, a.cos, a.sin, a.positions, a.heads, a.headDim, a.rotaryDim, r * a.heads + h, r * a.heads + h + 1);
          continue;
        }
        const p = r * a.kvHeads + h - a.heads;
        rope(a.k, a.cos, a.sin, a.positions, a.kvHeads, a.headDim, a.rotaryDim, p, p + 1);
        if (write) kvWrite(a.K, a.V, a.k, a.v, a.slots, a.kvHeads, a.headDim, a.blockSize, p, p + 1);
      }
      break;
    }
    case Opcode.gluQuantize: {                                                // chunks of rows
      const a = changetype<GluQuantizeRecord>(op);
      const r0 = from(c, size), r1 = upto(c, size, a.rows);
      glu(a.out, a.gate, a.up, a.act, r0 * a.width, r1 * a.width, tmp);
      quantizeRows(a.q, a.scales, a.out, a.width, a.Kp, r0, r1);
      break;
    }
    case Opcode.gatedMatmul: {                                                // chunks of output columns
      const a = changetype<GatedMatmulRecord>(op);
      const n0 = from(c, size), n1 = upto(c, size, a.N);
      setAccumulating(false);
      product(a.format, a.out, a.x, a.scales, a.sums, a.wGate, a.rows, a.N, a.K, a.Kp, tmp, n0, n1);
      product(a.format, a.up, a.x, a.scales, a.sums, a.wUp, a.rows, a.N, a.K, a.Kp, tmp, n0, n1);
      for (let r = 0; r < a.rows; r++) glu(a.out, a.out, a.up, a.act, r * a.N + n0, r * a.N + n1, tmp);
      break;
    }
    case Opcode.sum: {                                                        // the memory bandwidth probe: one partial per chunk
      const a = changetype<SumRecord>(op);
      sum(a.out + (<usize>c << 4), a.data, from(c, size), upto(c, size, a.n));
      break;
    }
    default:
      break;
  }
}

export { narrowToHalves, packRows, quantizeWeights, widenHalves } from "./convert";
export { quantizeQ4Weights } from "./convert-q4";
export { packTernary, ternarizeRows, ternaryAbsSum } from "./ternary";
export { peakF32, peakI16 } from "./peak";
