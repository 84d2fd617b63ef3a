import { CpuPool } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { rejection } from "./helpers.js";

interface SumTask {
  values: number[];
  gate?: SharedArrayBuffer;
  fail?: "coded" | "plain";
}
interface SumResult {
  sum: number;
  threadId: number;
}

const filename = new URL("../fixtures/runtime/sum-task.mjs", import.meta.url);

function open(gate: SharedArrayBuffer): void {
  const flag = new Int32Array(gate);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}

describe("CpuPool (piscina facade)", () => {
  it("runs tasks on a real pool of threads", async () => {
    const pool = new CpuPool<SumTask, SumResult>({ filename, minThreads: 2, maxThreads: 2 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run({ values: Array.from({ length: i + 1 }, (_, k) => k) })));
    expect(results.map((r) => r.sum)).toEqual(Array.from({ length: 20 }, (_, i) => (i * (i + 1)) / 2));
    expect(new Set(results.map((r) => r.threadId)).size).toBeLessThanOrEqual(2);
    expect(results.every((r) => r.threadId !== 0)).toBe(true);
    await pool.close();
    await rejection(pool.run({ values: [1] }), "NOT_READY");
  });

  it("rejects with CANCELLED when a queued task's signal aborts, and at once for an aborted signal", async () => {
    const gate = new SharedArrayBuffer(4);
    const pool = new CpuPool<SumTask, SumResult>({ filename, minThreads: 1, maxThreads: 1 });
    const blocked = pool.run({ values: [1, 2], gate });
    const controller = new AbortController();
    const queued = pool.run({ values: [3] }, { signal: controller.signal });
    controller.abort();
    await rejection(queued, "CANCELLED");
    await rejection(pool.run({ values: [4] }, { signal: AbortSignal.abort() }), "CANCELLED");
    open(gate);
    expect((await blocked).sum).toBe(3);
    await pool.close();
  });

  it("rejects with OVERLOADED when its queue is full", async () => {
    const gate = new SharedArrayBuffer(4);
    const pool = new CpuPool<SumTask, SumResult>({ filename, minThreads: 1, maxThreads: 1, maxQueue: 1 });
    const running = pool.run({ values: [1], gate });
    const waiting = pool.run({ values: [2] });
    await rejection(pool.run({ values: [3] }), "OVERLOADED");
    open(gate);
    expect((await running).sum).toBe(1);
    expect((await waiting).sum).toBe(2);
    await pool.close();
  });

  it("a task's InferenceError keeps its code and field; any other error is HANDLER_FAILED with it as cause", async () => {
    const pool = new CpuPool<SumTask, SumResult>({ filename, maxThreads: 1 });
    const coded = await rejection(pool.run({ values: [], fail: "coded" }), "VALIDATION");
    expect(coded.field).toBe("values");
    const plain = await rejection(pool.run({ values: [], fail: "plain" }), "HANDLER_FAILED");
    expect((plain.cause as Error).name).toBe("TypeError");
    expect((await pool.run({ values: [2, 3] })).sum).toBe(5); // the thread lives on
    await pool.close();
  });

  it("names a bad option", () => {
    expect(() => new CpuPool({ filename, maxThreads: 0 })).toThrow(/maxThreads/);
    expect(() => new CpuPool({ filename: "" })).toThrow(TypeError);
    expect(() => new CpuPool({ filename: "relative/task.mjs" })).toThrow(TypeError);
  });
});
