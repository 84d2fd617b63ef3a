import { InferenceBuilder, In, Model, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { rejection, useCounterHost } from "./helpers.js";

describe("streaming and run-to-completion", () => {
  const shared = useCounterHost({ start: 0 });

  const countTo = handler([In<number>(), Model<Counter>(), Out<{ index: number; tag: string }>()], async function countTo(n, model, out) {
    for (let i = 0; i < n; i++) await out.emit({ index: i, tag: await model.call("echo", `t${i}`, 1) });
  });

  it("streams outputs in order and join() resolves", async () => {
    const inference = await new InferenceBuilder().withModel(shared.host).build(countTo);
    const job = inference.infer(40).spawn();
    const seen: number[] = [];
    for await (const item of job.stream) {
      expect(item.tag).toBe(`t${item.index}`);
      seen.push(item.index);
    }
    await job.join();
    expect(job.status).toBe("completed");
    expect(seen).toEqual([...Array(40).keys()]);
    await inference.close();
  });

  it("run() returns every output", async () => {
    const inference = await new InferenceBuilder().withModel(shared.host).build(countTo);
    const all = await inference.infer(25).run();
    expect(all.map((o) => o.index)).toEqual([...Array(25).keys()]);
    expect(await inference.infer(0).run()).toEqual([]);
    await inference.close();
  });

  it("a failed job delivers what it emitted, then its stream throws the error join() rejects with", async () => {
    const failing = handler([In<number>(), Out<number>()], async function failing(n, out) {
      for (let i = 0; i < n; i++) await out.emit(i);
      throw new RangeError("out of range");
    });
    const inference = await new InferenceBuilder().build(failing);
    const job = inference.infer(3).spawn();
    const seen: number[] = [];
    let streamError: unknown;
    try {
      for await (const v of job.stream) seen.push(v);
    } catch (error) {
      streamError = error;
    }
    expect(seen).toEqual([0, 1, 2]);
    const joinError = await rejection(job.join(), "HANDLER_FAILED");
    expect(streamError).toBe(joinError);
    expect(joinError.cause).toBeInstanceOf(RangeError);
    expect(joinError.message).toContain("failing");
    expect(job.status).toBe("failed");
    await rejection(inference.infer(0).run(), "HANDLER_FAILED");
    await inference.close();
  });

  it("a job that fails before emitting makes iteration throw at once", async () => {
    const h = handler([In<string>()], (s): string => {
      throw new Error(s);
    });
    const inference = await new InferenceBuilder().build(h);
    const job = inference.infer("nope").spawn();
    const iterator = job.stream[Symbol.asyncIterator]();
    const error = await rejection(iterator.next(), "HANDLER_FAILED");
    expect((error.cause as Error).message).toBe("nope");
    await expect(job.join()).rejects.toBe(error);
    await inference.close();
  });

  it("spawn() and run() never throw synchronously", async () => {
    const h = handler([In<number>()], (n) => n);
    const inference = await new InferenceBuilder().withMaxJobs(1).build(h);
    const a = inference.infer(1).spawn();
    const b = inference.infer(2).spawn();
    await rejection(b.join(), "OVERLOADED");
    await a.join();
    await inference.close();
    await rejection(inference.infer(3).run(), "NOT_READY");
  });
});
