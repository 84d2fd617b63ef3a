/**
 * The model worker's FIFO. Unit tests of OperationQueue (no threads), then through a real worker: a call whose
 * signal aborts while it waits in the queue never runs; one that is running finishes and returns its value.
 */
import { Cancel, InferenceBuilder, Model, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import type { Counter } from "../fixtures/runtime/counter.mjs";
import { OperationQueue, type QueuedOperation } from "../../packages/runtime/src/worker/queue.js";
import { deferred, Gate, rejection, useCounterHost } from "./helpers.js";

/** An operation that records start / end / drop in `log` and finishes when `done` resolves (at once without it). */
function op(id: number, log: string[], done?: Promise<void>): QueuedOperation {
  return {
    id,
    async run() {
      log.push(`start ${id}`);
      await done;
      log.push(`end ${id}`);
    },
    drop: () => log.push(`drop ${id}`),
  };
}

describe("OperationQueue", () => {
  it("runs operations one at a time in arrival order, async ones included", async () => {
    const log: string[] = [];
    const queue = new OperationQueue();
    const first = deferred();
    const last = deferred();
    queue.push(op(1, log, first.promise));
    queue.push(op(2, log));
    queue.push({ ...op(3, log), run: async () => (log.push("start 3"), last.resolve()) });
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start 1"]);
    expect(queue.waiting).toBe(2);
    first.resolve();
    await last.promise;
    expect(log).toEqual(["start 1", "end 1", "start 2", "end 2", "start 3"]);
  });

  it("cancel() drops a waiting operation (it never runs) and leaves a running one alone", async () => {
    const log: string[] = [];
    const queue = new OperationQueue();
    const running = deferred();
    const after = deferred();
    queue.push(op(1, log, running.promise));
    queue.push(op(2, log));
    queue.push({ ...op(3, log), run: () => after.resolve() });
    await new Promise((resolve) => setImmediate(resolve));
    expect(queue.cancel(1)).toBe(false); // running
    expect(queue.cancel(2)).toBe(true);
    expect(queue.cancel(2)).toBe(false); // gone
    expect(queue.cancel(99)).toBe(false);
    running.resolve();
    await after.promise;
    expect(log).toEqual(["start 1", "drop 2", "end 1"]);
  });

  it("an operation that throws does not stop the queue", async () => {
    const queue = new OperationQueue();
    const ran = deferred();
    queue.push({ id: 1, run: () => Promise.reject(new Error("boom")), drop: () => undefined });
    queue.push({ id: 2, run: () => ran.resolve(), drop: () => undefined });
    await ran.promise;
  });
});

describe("calls with a signal, through a real worker", () => {
  const shared = useCounterHost({ start: 0 });

  it("a call whose signal aborts while it waits in the worker's queue leaves it and never runs", async () => {
    const { host } = shared;
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 1); // occupies the worker
    await gate.entered();
    const controller = new AbortController();
    const queued = host.withSignal(controller.signal).call("add", 100);
    const after = host.call("add", 1);
    controller.abort("client went away");
    gate.open();
    const error = await rejection(queued, "CANCELLED");
    expect(error.message).toContain("client went away");
    expect(await held).toBe(1);
    await after;
    const history = await host.call("history");
    expect(history.slice(-2)).toEqual(["hold 1", "add 1"]); // "add 100" never ran
  });

  it("a call whose signal aborts while it runs finishes and resolves with its value", async () => {
    const { host } = shared;
    const gate = new Gate();
    const controller = new AbortController();
    const running = host.withSignal(controller.signal).call("hold", gate.buffer, 42);
    await gate.entered();
    controller.abort();
    gate.open();
    expect(await running).toBe(42);
  });

  it("an already-aborted signal rejects at once without reaching the worker", async () => {
    const { host } = shared;
    const before = (await host.call("stats")).calls;
    await rejection(host.withSignal(AbortSignal.abort()).call("add", 1), "CANCELLED");
    expect((await host.call("stats")).calls).toBe(before + 0);
  });

  it("a cancelled job's queued operation never runs; its handler sees CANCELLED", async () => {
    const { host } = shared;
    const gate = new Gate();
    const reached = deferred();
    const h = handler([Model<Counter>(), Cancel(), Out<number>()], async (model, cancel, out) => {
      const call = model.withSignal(cancel.signal).call("add", 1000); // sent to the worker at once
      reached.resolve();
      await out.emit(await call);
    });
    const inference = await new InferenceBuilder().withModel(host).build(h);
    const held = host.call("hold", gate.buffer, 2);
    await gate.entered();
    const job = inference.infer(undefined).spawn();
    await reached.promise;
    job.cancel("not needed");
    gate.open();
    await rejection(job.join(), "CANCELLED");
    await held;
    const history = await host.call("history");
    expect(history.at(-1)).toBe("hold 2");
    await inference.close();
  });
});
