// The kernel module: a command-list interpreter that every thread runs over the same shared memory. The JS
// side records ops (32 i32 words each) cut into chunks, and flags an op that must wait for earlier ones. Threads
// claim chunks from per-op counters, so a thread that is late (or not scheduled at all) only does less of the
// work and is never waited for. Helper threads park in `helperLoop` between lists.
import { attention, kvWrite } from "./attention";
import { activation, add, glu, scale, softcap, sum } from "./elementwise";
import { matmulBF16, matmulF16, prepareHalves } from "./matmul-half";
import { matmulF32 } from "./matmul-f32";
import { matmulI8, quantizeRows } from "./matmul-i8";
import { matmulQ4 } from "./matmul-q4";
import { layernorm, rmsnorm } from "./norm";
import { addPositions } from "./positions";
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

/** One op record: 32 i32 words, [opcode, flags, chunks, chunk size, args...]. */
const WORDS: i32 = 32;
const BARRIER: i32 = 1;
const GEN_BITS: i32 = 0xfff;
const CHUNK_BITS: i32 = 0xfffff;

@inline function arg(op: usize, i: i32): i32 {
  return load<i32>(op + (<usize>(i + 4) << 2));
}
@inline function ptr(op: usize, i: i32): usize {
  return <usize><u32>load<i32>(op + (<usize>(i + 4) << 2));
}
@inline function argf(op: usize, i: i32): f32 {
  return load<f32>(op + (<usize>(i + 4) << 2));
}

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
    const chunks = load<i32>(list + <usize>(j * WORDS + 2) * 4);
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
    const op = list + <usize>(i * WORDS) * 4;
    const chunks = load<i32>(op + 8);
    if (chunks == 1 && tid != 0) {                             // a serial op: the model thread's alone; helpers
      if (load<i32>(op + 4) & BARRIER) segment = i;            // go on to the next op they can share (its barrier
      continue;                                                // waits for this one too)
    }
    if (load<i32>(op + 4) & BARRIER) {
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

/** Start and end of chunk `c` of `total` items in chunks of `size`. */
@inline function from(c: i32, size: i32): i32 {
  return c * size;
}
@inline function upto(c: i32, size: i32, total: i32): i32 {
  return min(total, (c + 1) * size);
}

/** Does chunk `c` of one op (chunk size in word 3, in the op's own unit: output columns, rows, pairs or elements). */
function execute(op: usize, c: i32, tmp: usize): void {
  const size = load<i32>(op + 12);
  switch (load<i32>(op)) {
    case 1: case 2: case 3: {                                     // matmul f32 / f16 / bf16, chunks of output columns
      const N = arg(op, 4);
      const n0 = from(c, size), n1 = upto(c, size, N);
      const kind = load<i32>(op);
      if (kind == 1) matmulF32(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), n0, n1);
      else if (kind == 2) matmulF16(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), tmp, n0, n1);
      else matmulBF16(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), tmp, n0, n1);
      break;
    }
    case 4: {                                                     // matmul int8
      const N = arg(op, 5);
      matmulI8(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), N, arg(op, 6), ptr(op, 7), tmp, from(c, size), upto(c, size, N));
      break;
    }
    case 31: {                                                    // matmul q4 (activations as for int8)
      const N = arg(op, 5);
      matmulQ4(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 4), N, arg(op, 6), ptr(op, 7), tmp, from(c, size), upto(c, size, N));
      break;
    }
    case 5:                                                       // quantize rows to int8 (as i16)
      quantizeRows(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), arg(op, 5), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 6:                                                       // rmsnorm
      rmsnorm(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), argf(op, 5), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 7:                                                       // layernorm
      layernorm(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), argf(op, 6), from(c, size), upto(c, size, arg(op, 4)));
      break;
    case 8:                                                       // rope, chunks of (row, head) pairs
      rope(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), arg(op, 6), arg(op, 7), from(c, size), upto(c, size, arg(op, 4) * arg(op, 5)));
      break;
    case 9:                                                       // kv write
      kvWrite(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 6), arg(op, 7), arg(op, 8), from(c, size), upto(c, size, arg(op, 5) * arg(op, 6)));
      break;
    case 10:                                                      // attention
      attention(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), ptr(op, 5), ptr(op, 6), ptr(op, 7),
        arg(op, 9), arg(op, 10), arg(op, 11), argf(op, 12), arg(op, 13), argf(op, 14), arg(op, 15), tmp,
        from(c, size), upto(c, size, arg(op, 8) * arg(op, 10)));
      break;
    case 11:                                                      // glu, chunks of elements
      glu(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), from(c, size), upto(c, size, arg(op, 3)), tmp);
      break;
    case 12:                                                      // activation
      activation(ptr(op, 0), ptr(op, 1), arg(op, 3), from(c, size), upto(c, size, arg(op, 2)), tmp);
      break;
    case 13:                                                      // add
      add(ptr(op, 0), ptr(op, 1), ptr(op, 2), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 14:                                                      // scale
      scale(ptr(op, 0), ptr(op, 1), argf(op, 2), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 15:                                                      // softcap
      softcap(ptr(op, 0), ptr(op, 1), argf(op, 2), from(c, size), upto(c, size, arg(op, 3)), tmp);
      break;
    case 16:                                                      // embed, chunks of rows
      embed(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), arg(op, 5), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 17:                                                      // gather
      gather(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 19:                                                      // prepare activations for 16-bit weights
      prepareHalves(ptr(op, 0), ptr(op, 1), arg(op, 3), argf(op, 4), from(c, size), upto(c, size, arg(op, 2)));
      break;
    case 30:                                                      // learned position embeddings, chunks of rows
      addPositions(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 20:                                                      // prepare activations for ternary weights, chunks of rows
      prepareTernary(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), arg(op, 6), tmp, from(c, size), upto(c, size, arg(op, 4)));
      break;
    case 21: {                                                    // matmul ternary, chunks of output columns
      const N = arg(op, 6);
      matmulTernary(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), N, arg(op, 7), ptr(op, 8), tmp, from(c, size), upto(c, size, N));
      break;
    }
    case 22:                                                      // embed from a ternary table
      embedTernary(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), arg(op, 5), from(c, size), upto(c, size, arg(op, 3)));
      break;
    case 18:                                                      // sum (the memory bandwidth probe): one partial per chunk
      sum(ptr(op, 0) + (<usize>c << 4), ptr(op, 1), from(c, size), upto(c, size, arg(op, 2)));
      break;
    default:
      break;
  }
}

export { narrowToHalves, packRows, quantizeWeights, widenHalves } from "./convert";
export { quantizeQ4Weights } from "./convert-q4";
export { packTernary, ternarizeRows, ternaryAbsSum } from "./ternary";
export { peakF32, peakI16 } from "./peak";
