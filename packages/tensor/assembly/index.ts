// The kernel module: a command-list interpreter that every thread runs over the same shared memory. The
// JS side records ops (32 i32 words each) and sets a barrier flag on an op that must wait for earlier ones;
// each thread does its share of every op. Helper threads park in `helperLoop` between lists.
import { shareEnd, shareStart } from "./common";
import { attention, kvWrite } from "./attention";
import { activation, add, glu, scale, softcap } from "./elementwise";
import { matmulBF16, matmulF16 } from "./matmul-half";
import { matmulF32 } from "./matmul-f32";
import { matmulI8, quantizeRows } from "./matmul-i8";
import { layernorm, rmsnorm } from "./norm";
import { rope } from "./rope";
import { embed, gather } from "./rows";

// ---- control block (i32 offsets from `ctrl`) ----
const GEN = 0;        // bumped by the main thread to start a list
const LIST = 4;       // command list address
const COUNT = 8;      // ops in it
const THREADS = 12;   // threads taking part
const ARRIVED = 16;   // barrier: threads arrived
const PHASE = 20;     // barrier: completed barriers
const STOP = 24;      // 1: helpers leave their loop
const SLEEPERS = 28;  // threads blocked in a wait (the last arriver wakes them)
const SCRATCH = 32;   // per-thread scratch base
const STRIDE = 36;    // per-thread scratch bytes
const FAULT = 40;     // 1: a thread trapped; the others stop waiting
const SPIN: i32 = 1 << 14;

/** One op record: 32 i32 words, [opcode, flags, args...]. */
const WORDS: i32 = 32;
const BARRIER: i32 = 1;

@inline function arg(op: usize, i: i32): i32 {
  return load<i32>(op + (<usize>(i + 2) << 2));
}
@inline function ptr(op: usize, i: i32): usize {
  return <usize><u32>load<i32>(op + (<usize>(i + 2) << 2));
}
@inline function argf(op: usize, i: i32): f32 {
  return load<f32>(op + (<usize>(i + 2) << 2));
}

/** Waits until every thread arrived (spinning, then sleeping); the last one releases the others. */
function barrier(ctrl: usize, nth: i32): void {
  if (nth == 1) return;
  const phase = atomic.load<i32>(ctrl + PHASE);
  if (atomic.add<i32>(ctrl + ARRIVED, 1) == nth - 1) {
    atomic.store<i32>(ctrl + ARRIVED, 0);
    atomic.add<i32>(ctrl + PHASE, 1);
    if (atomic.load<i32>(ctrl + SLEEPERS) > 0) atomic.notify(ctrl + PHASE, nth);
    return;
  }
  let spins = 0;
  while (atomic.load<i32>(ctrl + PHASE) == phase) {
    if (atomic.load<i32>(ctrl + FAULT) != 0) unreachable();
    if (++spins > SPIN) {
      atomic.add<i32>(ctrl + SLEEPERS, 1);
      atomic.wait<i32>(ctrl + PHASE, phase, 10_000_000);
      atomic.sub<i32>(ctrl + SLEEPERS, 1);
      spins = 0;
    }
  }
}

/** Runs this thread's share of `count` ops at `list`, then waits for the others. */
export function run(ctrl: usize, list: usize, count: i32, tid: i32, nth: i32): void {
  const tmp = <usize><u32>load<i32>(ctrl + SCRATCH) + <usize>tid * <usize><u32>load<i32>(ctrl + STRIDE);
  for (let i = 0; i < count; i++) {
    const op = list + <usize>(i * WORDS) * 4;
    if (load<i32>(op + 4) & BARRIER) barrier(ctrl, nth);
    execute(op, tid, nth, tmp);
  }
  barrier(ctrl, nth);
}

/** A helper thread's life: wait for a list after generation `seen` (spin, then sleep), run its share, until STOP. */
export function helperLoop(ctrl: usize, tid: i32, seen: i32): void {
  while (true) {
    let spins = 0;
    while (atomic.load<i32>(ctrl + GEN) == seen) {
      if (++spins > SPIN) {
        atomic.wait<i32>(ctrl + GEN, seen, -1);
        spins = 0;
      }
    }
    seen = atomic.load<i32>(ctrl + GEN);
    if (atomic.load<i32>(ctrl + STOP) != 0) return;
    run(ctrl, <usize><u32>atomic.load<i32>(ctrl + LIST), atomic.load<i32>(ctrl + COUNT), tid, atomic.load<i32>(ctrl + THREADS));
  }
}

function execute(op: usize, tid: i32, nth: i32, tmp: usize): void {
  switch (load<i32>(op)) {
    case 1: case 2: case 3: {                                     // matmul f32 / f16 / bf16
      const N = arg(op, 4);
      const n0 = shareStart(N, tid, nth, 4), n1 = shareEnd(N, tid, nth, 4);
      const kind = load<i32>(op);
      if (kind == 1) matmulF32(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), n0, n1);
      else if (kind == 2) matmulF16(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), n0, n1);
      else matmulBF16(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 3), N, arg(op, 5), ptr(op, 6), n0, n1);
      break;
    }
    case 4: {                                                     // matmul int8
      const N = arg(op, 6);
      matmulI8(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 5), N, arg(op, 7), ptr(op, 8),
        shareStart(N, tid, nth, 4), shareEnd(N, tid, nth, 4));
      break;
    }
    case 5: {                                                     // quantize rows to int8 (as i16)
      const R = arg(op, 3);
      quantizeRows(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), arg(op, 5), shareStart(R, tid, nth, 1), shareEnd(R, tid, nth, 1));
      break;
    }
    case 6: {                                                     // rmsnorm
      const R = arg(op, 3);
      rmsnorm(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), argf(op, 5), shareStart(R, tid, nth, 1), shareEnd(R, tid, nth, 1));
      break;
    }
    case 7: {                                                     // layernorm
      const R = arg(op, 4);
      layernorm(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), argf(op, 6), shareStart(R, tid, nth, 1), shareEnd(R, tid, nth, 1));
      break;
    }
    case 8: {                                                     // rope
      const pairs = arg(op, 4) * arg(op, 5);
      rope(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), arg(op, 6), arg(op, 7), shareStart(pairs, tid, nth, 1), shareEnd(pairs, tid, nth, 1));
      break;
    }
    case 9: {                                                     // kv write
      const pairs = arg(op, 5) * arg(op, 6);
      kvWrite(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), arg(op, 6), arg(op, 7), arg(op, 8), shareStart(pairs, tid, nth, 1), shareEnd(pairs, tid, nth, 1));
      break;
    }
    case 10: {                                                    // attention
      const pairs = arg(op, 8) * arg(op, 9);
      attention(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), ptr(op, 4), ptr(op, 5), ptr(op, 6), ptr(op, 7),
        arg(op, 9), arg(op, 10), arg(op, 11), argf(op, 12), arg(op, 13), argf(op, 14), arg(op, 15), tmp,
        shareStart(pairs, tid, nth, 1), shareEnd(pairs, tid, nth, 1));
      break;
    }
    case 11: {                                                    // glu
      const n = arg(op, 3);
      glu(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), shareStart(n, tid, nth, 16), shareEnd(n, tid, nth, 16), tmp);
      break;
    }
    case 12: {                                                    // activation
      const n = arg(op, 2);
      activation(ptr(op, 0), ptr(op, 1), arg(op, 3), shareStart(n, tid, nth, 16), shareEnd(n, tid, nth, 16), tmp);
      break;
    }
    case 13: {                                                    // add
      const n = arg(op, 3);
      add(ptr(op, 0), ptr(op, 1), ptr(op, 2), shareStart(n, tid, nth, 16), shareEnd(n, tid, nth, 16));
      break;
    }
    case 14: {                                                    // scale
      const n = arg(op, 3);
      scale(ptr(op, 0), ptr(op, 1), argf(op, 2), shareStart(n, tid, nth, 16), shareEnd(n, tid, nth, 16));
      break;
    }
    case 15: {                                                    // softcap
      const n = arg(op, 3);
      softcap(ptr(op, 0), ptr(op, 1), argf(op, 2), shareStart(n, tid, nth, 16), shareEnd(n, tid, nth, 16), tmp);
      break;
    }
    case 16: {                                                    // embed
      const R = arg(op, 4);
      embed(ptr(op, 0), ptr(op, 1), ptr(op, 2), ptr(op, 3), arg(op, 5), arg(op, 6), arg(op, 7), shareStart(R, tid, nth, 1), shareEnd(R, tid, nth, 1));
      break;
    }
    case 17: {                                                    // gather
      const count = arg(op, 3);
      gather(ptr(op, 0), ptr(op, 1), ptr(op, 2), arg(op, 4), shareStart(count, tid, nth, 1), shareEnd(count, tid, nth, 1));
      break;
    }
    default:
      break;
  }
}
