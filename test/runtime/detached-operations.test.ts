/**
 * A model's own work in the worker's FIFO (`ctx.enqueue`) and operations that answer later without holding it
 * (`ctx.detach`), through a real worker: ordinary calls keep their FIFO order around both, a detached call can be
 * cancelled while it waits, and a crash fails it like any pending call.
 */
import { ModelHost } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { Gate, rejection, useCounterHost } from "./helpers.js";

describe("ctx.detach: an operation that answers later", () => {
  const shared = useCounterHost({ start: 0 });

  it("does not hold the queue: later calls run and answer while it waits; it answers when woken", async () => {
    const { host } = shared;
    let settled = false;
    const waiting = host.call("waitFor", "a").then((v) => ((settled = true), v));
    expect(await host.call("add", 1)).toBe(1);
    expect(await host.call("add", 2)).toBe(3);
    expect(settled).toBe(false);
    expect(await host.call("wake", "a", 42)).toBe(true);
    expect(await waiting).toBe(42);
    const history = await host.call("history");
    expect(history.slice(-3)).toEqual(["wait a", "add 1", "add 2"]);
    expect((await host.call("stats")).overlaps).toBe(0); // the synchronous parts were still one at a time
  });

  it("its caller's signal aborts the wait: CANCELLED with the signal's reason, and the model saw it", async () => {
    const { host } = shared;
    const controller = new AbortController();
    const waiting = host.withSignal(controller.signal).call("waitFor", "b");
    expect(await host.call("add", 0)).toBeTypeOf("number"); // the wait has started in the worker
    controller.abort("client went away");
    const error = await rejection(waiting, "CANCELLED");
    expect(error.message).toContain("client went away");
    expect(await host.call("wake", "b", 1)).toBe(false);
    expect((await host.call("history")).at(-1)).toBe("aborted b");
  });

  it("detach() outside an operation (in a task of the model's own) is refused with VALIDATION", async () => {
    const { host } = shared;
    await host.call("detachOutside");
    await host.call("add", 0);
    expect(await host.call("history")).toContain("refused VALIDATION");
  });

  it("a worker that dies fails a waiting detached call with WORKER_CRASHED", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    try {
      const waiting = host.call("waitFor", "c");
      await host.call("add", 0);
      void host.call("exit", 3).catch(() => undefined);
      await rejection(waiting, "WORKER_CRASHED");
    } finally {
      await host.close();
    }
  });
});

describe("ctx.enqueue: the model's own work in the FIFO", () => {
  const shared = useCounterHost({ start: 0 });

  it("a task runs after every operation queued when it was enqueued, before those that came later", async () => {
    const { host } = shared;
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 1);
    await gate.entered();
    const queued = [host.call("later", "x"), host.call("add", 1)];
    gate.open();
    await held;
    await Promise.all(queued);
    const after = host.call("add", 2); // sent after `later` ran: the task is ahead of it
    await after;
    const history = await host.call("history");
    expect(history.slice(-5)).toEqual(["hold 1", "later x", "add 1", "task x", "add 2"]);
    expect((await host.call("stats")).overlaps).toBe(0);
  });
});
