/**
 * The scheduler's policy on its own (pure functions, no model, no threads): one step's plan (decode rows first,
 * prompt chunks within the budget, FIFO admission by KV budget and limits, recompute preemption latest first),
 * the step-cost model that sizes prompt chunks beside decode rows, the request bound, and a request's outbox.
 */
import { InferenceError } from "@actorlm/runtime";
import { StepCostModel, checkAdmission, planStep, type PlanSequence, type StepLimits } from "@actorlm/llm";
import { describe, expect, it } from "vitest";
import { Outbox } from "../../packages/llm/src/generation/outbox.js";
import { rejection } from "../assertions.js";

const LIMITS: StepLimits = { blockSize: 4, freeBlocks: 100, maxBatchTokens: 64, maxLogitRows: 16, maxConcurrentRequests: 8, prefillRows: 8 };

/** A sequence holding `cached` positions (in whole blocks) of `length` known tokens. */
function seq(id: number, cached: number, length: number, extra: Partial<PlanSequence> = {}): PlanSequence {
  return { id, cached, length, blocks: Math.ceil(cached / 4), paused: false, ...extra };
}

describe("planStep", () => {
  it("gives each decoding sequence one row with logits, and a new prompt all of a step without decode rows", () => {
    expect(planStep([seq(1, 10, 11), seq(2, 7, 8)], [], LIMITS).rows).toEqual([
      { id: 1, count: 1, logits: true, blocks: 3 },
      { id: 2, count: 1, logits: true, blocks: 2 },
    ]);
    const alone = planStep([], [seq(3, 0, 40)], LIMITS);
    expect(alone.admit).toEqual([3]);
    expect(alone.rows).toEqual([{ id: 3, count: 40, logits: true, blocks: 10 }]);
  });

  it("cuts prompts into chunks of prefillRows beside decode rows (no logits until a prompt's last chunk), oldest first", () => {
    const plan = planStep([seq(1, 10, 11), seq(2, 8, 30)], [seq(3, 0, 5)], LIMITS);
    expect(plan.rows).toEqual([
      { id: 1, count: 1, logits: true, blocks: 3 },
      { id: 2, count: 8, logits: false, blocks: 4 },
    ]);
    expect(plan.admit).toEqual([]); // the chunk budget went to the older prompt
    const next = planStep([seq(1, 11, 12), seq(2, 28, 30)], [seq(3, 0, 5)], LIMITS);
    expect(next.rows).toEqual([
      { id: 1, count: 1, logits: true, blocks: 3 },
      { id: 2, count: 2, logits: true, blocks: 8 },
      { id: 3, count: 5, logits: true, blocks: 2 },
    ]);
    expect(next.admit).toEqual([3]);
  });

  it("admits first come, first served while the batch has room, never past the head that does not fit", () => {
    const one = { ...LIMITS, maxConcurrentRequests: 2 };
    expect(planStep([seq(1, 10, 11)], [seq(2, 0, 3), seq(3, 0, 3)], one).admit).toEqual([2]);
    // 6 free blocks: the head needs blocks for 30 tokens + 1 (8), so nobody behind it jumps the queue
    const tight = { ...LIMITS, freeBlocks: 6 };
    const plan = planStep([], [seq(2, 0, 30), seq(3, 0, 3)], tight);
    expect(plan.admit).toEqual([]);
    expect(plan.rows).toEqual([]);
  });

  it("admits a request with a cached prefix for the blocks it adds, plus the unreferenced cached ones it takes", () => {
    // 30 tokens + 1 need 8 blocks; the first 6 (24 positions) are cached: it adds 2, and computes from position 24
    const cachedPrefix = seq(2, 24, 30);
    expect(planStep([], [cachedPrefix], { ...LIMITS, freeBlocks: 2 }).rows).toEqual([{ id: 2, count: 6, logits: true, blocks: 8 }]);
    expect(planStep([], [seq(2, 0, 30)], { ...LIMITS, freeBlocks: 2 }).admit).toEqual([]);
    // the same prefix cached but referenced by nobody: those 6 blocks are counted free until it takes them
    expect(planStep([], [{ ...cachedPrefix, reclaim: 6 }], { ...LIMITS, freeBlocks: 7 }).admit).toEqual([]);
    expect(planStep([], [{ ...cachedPrefix, reclaim: 6 }], { ...LIMITS, freeBlocks: 8 }).admit).toEqual([2]);
  });

  it("counts only the blocks a preempted sequence referenced alone as freed", () => {
    // the older decoder needs a block: the latest gives its 3 back, but 2 of them are shared with the oldest
    const running = [seq(1, 8, 9), seq(2, 12, 12 + 1, { ownBlocks: 1 })];
    const plan = planStep(running, [], { ...LIMITS, freeBlocks: 0 });
    expect(plan.preempt).toEqual([2]);
    expect(plan.rows).toEqual([{ id: 1, count: 1, logits: true, blocks: 3 }]);
    // had it freed nothing (every block shared), the older one could not run either
    expect(planStep([seq(1, 8, 9), seq(2, 12, 13, { ownBlocks: 0 })], [], { ...LIMITS, freeBlocks: 0 }).rows).toEqual([]);
  });

  it("keeps the blocks running sequences will need for their next token: a prompt joins only beyond them", () => {
    // two decoders that each fill their last block now and need another for the token after: 2 blocks spoken for
    const running = [seq(1, 7, 8), seq(2, 7, 8)];
    expect(planStep(running, [seq(3, 0, 6)], { ...LIMITS, freeBlocks: 3 }).admit).toEqual([]);
    expect(planStep(running, [seq(3, 0, 6)], { ...LIMITS, freeBlocks: 4 }).admit).toEqual([3]);
  });

  it("a decoding sequence short of a block preempts the latest admitted one, which returns to the queue's head", () => {
    // no free block; seq 1 needs a fifth block for position 16
    const plan = planStep([seq(1, 16, 17), seq(2, 7, 8), seq(3, 4, 5)], [seq(4, 0, 3)], { ...LIMITS, freeBlocks: 0 });
    expect(plan.preempt).toEqual([3]);
    expect(plan.rows.map((r) => r.id)).toEqual([1, 2]);
    expect(plan.admit).toEqual([]); // nobody joins in a step that preempted
  });

  it("the latest sequence itself waits in the queue when nothing after it can give a block", () => {
    const plan = planStep([seq(1, 7, 8), seq(2, 16, 17)], [], { ...LIMITS, freeBlocks: 0 });
    expect(plan.preempt).toEqual([2]);
    expect(plan.rows.map((r) => r.id)).toEqual([1]);
  });

  it("a prompt chunk of an older sequence takes blocks back from a later one, unplanning its decode row", () => {
    // seq 2's decode row is planned first (it needs no new block); seq 1's chunk then needs 2 blocks, 1 is free
    const plan = planStep([seq(1, 4, 12), seq(2, 5, 6)], [], { ...LIMITS, freeBlocks: 1 });
    expect(plan.preempt).toEqual([2]);
    expect(plan.rows).toEqual([{ id: 1, count: 8, logits: true, blocks: 3 }]);
  });

  it("leaves paused sequences out (they keep their blocks) and counts them against the batch size", () => {
    const plan = planStep([seq(1, 10, 11, { paused: true }), seq(2, 5, 6)], [seq(3, 0, 2)], { ...LIMITS, maxConcurrentRequests: 2 });
    expect(plan.rows.map((r) => r.id)).toEqual([2]);
    expect(plan.admit).toEqual([]);
  });

  it("keeps within the row and logit budgets: a prompt stops one short of its end when no logit row is left", () => {
    const running = [seq(1, 10, 11), seq(2, 10, 11), seq(3, 0, 6)];
    const plan = planStep(running, [], { ...LIMITS, maxLogitRows: 2 });
    expect(plan.rows).toEqual([
      { id: 1, count: 1, logits: true, blocks: 3 },
      { id: 2, count: 1, logits: true, blocks: 3 },
      { id: 3, count: 5, logits: false, blocks: 2 },
    ]);
    const rows = planStep([seq(1, 10, 11), seq(2, 10, 11), seq(3, 10, 11)], [], { ...LIMITS, maxBatchTokens: 2 }).rows;
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  });
});

describe("StepCostModel", () => {
  it("before any step: prefill rows as many as the decode rows, at least minRows", () => {
    const model = new StepCostModel({ minRows: 4 });
    expect(model.prefillRows(8)).toBe(8);
    expect(model.prefillRows(1)).toBe(4);
  });

  it("learns a fixed cost from steps of different sizes, and then allows more rows beside few decode rows", () => {
    const model = new StepCostModel({ stall: 2, minRows: 1 });
    // t = 20 + 2·rows: a memory-bound step, where rows are cheap next to reading the weights
    for (let i = 0; i < 20; i++) for (const rows of [1, 8, 24]) model.observe(rows, 20 + 2 * rows);
    const fit = model.fit()!;
    expect(fit.a).toBeCloseTo(20, 5);
    expect(fit.b).toBeCloseTo(2, 5);
    // t(1 + p) ≤ 2 · t(1) = 44  ⇔  p ≤ 11
    expect(model.prefillRows(1)).toBe(11);
    expect(model.prefillRows(8)).toBe(18);
  });

  it("with every step the same size, assumes all cost is per row (the cautious guess)", () => {
    const model = new StepCostModel({ stall: 3, minRows: 1 });
    for (let i = 0; i < 10; i++) model.observe(8, 40);
    expect(model.fit()!.a).toBe(0);
    expect(model.fit()!.b).toBeCloseTo(5, 9);
    expect(model.prefillRows(8)).toBe(16);
  });

  it("while more requests wait for their first token than streams decode, allows more stall, up to maxStall", () => {
    const model = new StepCostModel({ stall: 2, maxStall: 5, minRows: 1 });
    for (let i = 0; i < 10; i++) model.observe(8, 40); // b = 5, a = 0
    expect(model.prefillRows(8, 1)).toBe(8);            // stall 2
    expect(model.prefillRows(2, 6)).toBe(6);            // stall 1 + 6 / 2 = 4: p = 3 · 2
    expect(model.prefillRows(1, 20)).toBe(4);           // stall capped at 5: p = 4 · 1
  });

  it("refuses nonsense settings", () => {
    expect(() => new StepCostModel({ stall: 1 })).toThrow(RangeError);
    expect(() => new StepCostModel({ minRows: 0 })).toThrow(RangeError);
    expect(() => new StepCostModel({ decay: 1 })).toThrow(RangeError);
    expect(() => new StepCostModel({ stall: 3, maxStall: 2 })).toThrow(RangeError);
  });
});

describe("checkAdmission", () => {
  it("refuses with OVERLOADED once the batch and the queue are full", () => {
    const limits = { maxConcurrentRequests: 2, maxQueuedRequests: 1 };
    expect(() => checkAdmission(2, 0, limits)).not.toThrow();
    expect(() => checkAdmission(1, 1, limits)).not.toThrow();
    let error: unknown;
    try {
      checkAdmission(2, 1, limits);
    } catch (e) {
      error = e;
    }
    expect(InferenceError.is(error, "OVERLOADED")).toBe(true);
    expect(() => checkAdmission(1, 0, { maxConcurrentRequests: 1, maxQueuedRequests: 0 })).toThrow(expect.objectContaining({ code: "OVERLOADED" }));
  });
});

describe("Outbox", () => {
  const out = (tokenId: number, finishReason?: "stop" | "length") => ({ tokenId, text: `t${tokenId}`, special: false, ...(finishReason ? { finishReason } : {}) });

  it("hands over everything produced since the last take; a waiting caller gets the next push; closed after the last", async () => {
    const box = new Outbox();
    expect(box.take()).toBeUndefined();
    box.push(out(1));
    box.push(out(2));
    expect(box.take()).toEqual([out(1), out(2)]);
    const waiting = box.wait(undefined, () => undefined);
    expect(box.waiting).toBe(true);
    box.push(out(3, "length"));
    expect(await waiting).toEqual([out(3, "length")]);
    expect(box.closed).toBe(true);
  });

  it("a failure reaches the waiting caller, or the next take once the outputs before it are taken", async () => {
    const box = new Outbox();
    const waiting = box.wait(undefined, () => undefined);
    box.fail(new InferenceError("WORKER_CRASHED", "gone"));
    await rejection(waiting, "WORKER_CRASHED");
    const later = new Outbox();
    later.push(out(1));
    later.fail(new InferenceError("CANCELLED", "stop"));
    expect(later.take()).toEqual([out(1)]);
    expect(() => later.take()).toThrow(expect.objectContaining({ code: "CANCELLED" }));
    expect(later.closed).toBe(true);
  });

  it("an aborted wait runs onAbort and rejects with the signal's reason; a second waiter is VALIDATION", async () => {
    const box = new Outbox();
    const controller = new AbortController();
    let aborted = 0;
    const waiting = box.wait(controller.signal, () => aborted++);
    await rejection(box.wait(undefined, () => undefined), "VALIDATION");
    controller.abort(new InferenceError("CANCELLED", "gone"));
    await rejection(waiting, "CANCELLED");
    expect(aborted).toBe(1);
    expect(box.waiting).toBe(false);
  });
});
