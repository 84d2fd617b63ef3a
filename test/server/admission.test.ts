/** Admission control on its own (no threads): limits, FIFO order, OVERLOADED, abandoned waiters leave the queue. */
import { InferenceError } from "@actorlm/runtime";
import { Admission } from "@actorlm/server";
import { describe, expect, it } from "vitest";
import { rejection } from "../assertions.js";

describe("Admission", () => {
  it("runs maxActive at once, queues maxQueued in FIFO order, refuses the next with OVERLOADED", async () => {
    const admission = new Admission(2, 2);
    const a = await admission.acquire();
    const b = await admission.acquire();
    const order: string[] = [];
    const c = admission.acquire().then((release) => (order.push("c"), release));
    const d = admission.acquire().then((release) => (order.push("d"), release));
    expect([admission.active, admission.queued]).toEqual([2, 2]);
    await rejection(admission.acquire(), "OVERLOADED");
    a();
    a(); // idempotent: frees one slot only
    const releaseC = await c;
    expect([admission.active, admission.queued]).toEqual([2, 1]);
    b();
    const releaseD = await d;
    expect(order).toEqual(["c", "d"]);
    releaseC();
    releaseD();
    expect([admission.active, admission.queued]).toEqual([0, 0]);
  });

  it("a waiter whose signal aborts leaves the queue (CANCELLED) and is never granted", async () => {
    const admission = new Admission(1, 3);
    const first = await admission.acquire();
    const controller = new AbortController();
    let granted = false;
    const abandoned = admission.acquire(controller.signal).then((r) => ((granted = true), r));
    const next = admission.acquire();
    expect(admission.queued).toBe(2);
    controller.abort("client left");
    await rejection(abandoned, "CANCELLED");
    expect(admission.queued).toBe(1);
    first();
    (await next)();
    expect(granted).toBe(false);
    expect([admission.active, admission.queued]).toEqual([0, 0]);
    await rejection(admission.acquire(AbortSignal.abort()), "CANCELLED");
  });

  it("refuseWaiting fails every waiter with the given error and leaves running ones alone", async () => {
    const admission = new Admission(1, 2);
    const running = await admission.acquire();
    const waiting = [admission.acquire(), admission.acquire()];
    admission.refuseWaiting(new InferenceError("NOT_READY", "shutting down"));
    for (const w of waiting) await rejection(w, "NOT_READY");
    expect([admission.active, admission.queued]).toEqual([1, 0]);
    running();
  });

  it("emits change with the counts; bad limits are RangeErrors", async () => {
    const admission = new Admission(1, 0);
    const seen: [number, number][] = [];
    admission.on("change", (active, queued) => seen.push([active, queued]));
    const release = await admission.acquire();
    await rejection(admission.acquire(), "OVERLOADED");
    release();
    expect(seen).toEqual([[1, 0], [0, 0]]);
    expect(() => new Admission(0, 1)).toThrow(RangeError);
    expect(() => new Admission(1, -1)).toThrow(RangeError);
  });
});
