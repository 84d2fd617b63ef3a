// The scheduler's policy for one step, as a pure function over plain numbers (testable without a model or
// threads): which running sequences get rows and how many, which waiting ones join the batch, and which give their
// KV blocks back when the pool runs short.
//
// Priority is admission order: the oldest running sequence goes first, and a sequence that lacks KV blocks takes
// them from those admitted after it (latest first; vLLM's recompute preemption: they go back to the queue's head
// and later run their tokens through the model again). Decode rows come first, one per decoding sequence; prefill
// chunks of the running sequences, then of newly admitted ones, fill what is left of the step's row budget, and
// while anything decodes they are limited to `prefillRows` so running streams do not stall behind a long prompt.
// A waiting sequence joins (first come, first served: none jumps the queue) only while the batch has room for
// another request and the pool, once every admitted prompt is cached, still holds its tokens plus one. With prefix
// caching a waiting sequence may find its first blocks cached already: it starts with them (`cached`, `blocks`),
// and admission counts only the blocks it adds, plus the cached ones it takes out of the evictable pool.

/** A sequence as the policy sees it. */
export interface PlanSequence {
  readonly id: number;
  /** Positions in its KV cache. */
  readonly cached: number;
  /** Tokens it knows (prompt, then sampled): `length − cached` are pending, ≥ 1. */
  readonly length: number;
  /** KV blocks it holds. */
  readonly blocks: number;
  /** Left out of this step (its outputs are not being read); it keeps its blocks. */
  readonly paused: boolean;
  /** Running: of its blocks, those only it references (what preempting it frees). Default: all of them. */
  readonly ownBlocks?: number;
  /**
   * Waiting: of the cached blocks it starts with (`blocks`), those nobody references now (counted in `freeBlocks`
   * until it takes them). Default 0.
   */
  readonly reclaim?: number;
}

/** The limits one step is planned within. */
export interface StepLimits {
  /** Positions per KV block. */
  readonly blockSize: number;
  /** Blocks a sequence can get now (free, or cached and unreferenced). */
  readonly freeBlocks: number;
  /** Most rows (tokens, every sequence together) in one forward. */
  readonly maxBatchTokens: number;
  /** Most logit rows one forward returns. */
  readonly maxLogitRows: number;
  /** Most sequences in the batch at once (running, paused included). */
  readonly maxConcurrentRequests: number;
  /** Most prefill rows a step that also decodes may carry (a step without decode rows takes maxBatchTokens). */
  readonly prefillRows: number;
}

/** One sequence's rows in the step. */
export interface PlannedRows {
  readonly id: number;
  /** Its next `count` pending tokens run in this step. */
  readonly count: number;
  /** True when they are all its pending tokens: the last row's logits come back, to sample from. */
  readonly logits: boolean;
  /** KV blocks it must hold for them (≥ what it holds; the pool has them once `preempt` gave theirs back). */
  readonly blocks: number;
}

/** What one step does. */
export interface StepPlan {
  /** Running sequences that give their blocks back and return to the queue's head, in queue order. */
  readonly preempt: readonly number[];
  /** Waiting sequences that join the batch, in order. */
  readonly admit: readonly number[];
  /** The batch: decode rows first, then prefill chunks. Empty when nothing can run. */
  readonly rows: readonly PlannedRows[];
}

/** Blocks holding `positions` positions. */
function blocksFor(positions: number, blockSize: number): number {
  return Math.ceil(positions / blockSize);
}

/** Plans one step over `running` (admission order) and `waiting` (queue order). */
export function planStep(running: readonly PlanSequence[], waiting: readonly PlanSequence[], limits: StepLimits): StepPlan {
  const { blockSize } = limits;
  const active = [...running];
  const planned = new Map<number, PlannedRows>();
  const preempted: PlanSequence[] = [];
  let free = limits.freeBlocks;
  let rows = limits.maxBatchTokens;
  let logits = limits.maxLogitRows;

  /** Takes `need` more blocks for `seq`, preempting sequences admitted after it (latest first); false when it cannot. */
  const claim = (seq: PlanSequence, need: number): boolean => {
    while (need > free && active.at(-1) !== seq) {
      const victim = active.pop()!;
      const plan = planned.get(victim.id);
      if (plan !== undefined) {                          // give back what was planned for it this step
        planned.delete(victim.id);
        free += plan.blocks - victim.blocks;
        rows += plan.count;
        if (plan.logits) logits++;
      }
      free += victim.ownBlocks ?? victim.blocks;
      preempted.unshift(victim);
    }
    if (need > free) return false;
    free -= need;
    return true;
  };
  const plan = (seq: PlanSequence, count: number): void => {
    const blocks = Math.max(seq.blocks, blocksFor(seq.cached + count, blockSize));
    const wantsLogits = count === seq.length - seq.cached;
    planned.set(seq.id, { id: seq.id, count, logits: wantsLogits, blocks });
    rows -= count;
    if (wantsLogits) logits--;
  };

  // Decode: one row per decoding sequence, oldest first.
  for (let i = 0; i < active.length; i++) {
    const seq = active[i];
    if (seq.paused || seq.length - seq.cached !== 1) continue;
    if (rows === 0 || logits === 0) break;
    const need = blocksFor(seq.cached + 1, blockSize) - seq.blocks;
    if (!claim(seq, Math.max(0, need))) {
      active.pop();                                      // it is the latest: it waits in the queue instead
      free += seq.ownBlocks ?? seq.blocks;
      preempted.unshift(seq);
      break;
    }
    plan(seq, 1);
  }
  const decodes = planned.size;

  // Prefill: chunks of the running sequences' pending prompts, oldest first, within the prefill budget.
  let prefill = Math.min(rows, decodes > 0 ? limits.prefillRows : rows);
  const chunk = (seq: PlanSequence, room: number): number => {
    const pending = seq.length - seq.cached;
    let count = Math.min(pending, prefill, room);
    if (count === pending && logits === 0) count--;       // no logit row left: stop one short of the end
    return count;
  };
  for (let i = 0; i < active.length && prefill > 0; i++) {
    const seq = active[i];
    if (seq.paused || planned.has(seq.id) || seq.length - seq.cached < 2) continue;
    let count = chunk(seq, Infinity);
    if (count <= 0) continue;
    const need = blocksFor(seq.cached + count, blockSize) - seq.blocks;
    if (need > 0 && !claim(seq, need)) {
      count = Math.min(count, (seq.blocks + free) * blockSize - seq.cached); // what the free blocks hold
      if (count <= 0) continue;
      free -= Math.max(0, blocksFor(seq.cached + count, blockSize) - seq.blocks);
    }
    plan(seq, count);
    prefill -= count;
  }

  // Admission: the queue's head joins while the batch and the pool have room for it (none after a preemption).
  const admit: number[] = [];
  if (preempted.length === 0) {
    let committed = 0;                                   // blocks the running sequences still need for their tokens + 1
    for (const seq of active) {
      const held = planned.get(seq.id)?.blocks ?? seq.blocks;
      committed += Math.max(0, blocksFor(seq.length + 1, blockSize) - held);
    }
    for (const seq of waiting) {
      if (active.length + admit.length >= limits.maxConcurrentRequests || prefill <= 0) break;
      if (seq.paused) continue;
      const reclaim = seq.reclaim ?? 0;                  // cached blocks it takes out of the evictable pool
      const need = blocksFor(seq.length + 1, blockSize) - seq.blocks + reclaim;
      if (free - committed < need) break;
      const count = chunk(seq, Infinity);
      if (count <= 0) break;
      admit.push(seq.id);
      plan(seq, count);
      const taken = Math.max(0, blocksFor(seq.cached + count, blockSize) - seq.blocks) + reclaim;
      free -= taken;
      committed += need - taken;
      prefill -= count;
    }
  }

  // The batch in planning order: Map keeps insertion order (decode rows were planned first).
  return { preempt: preempted.map((s) => s.id), admit, rows: [...planned.values()] };
}
