import { InferenceBuilder, In, Model, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { useCounterHost } from "./helpers.js";

describe("concurrency and serialization", () => {
  const shared = useCounterHost({ start: 0 });

  it("runs 50 concurrent jobs, each getting exactly its own outputs, with no two model operations overlapping", async () => {
    const before = await shared.host.call("stats");
    const h = handler([In<{ job: number; steps: number }>(), Model<Counter>(), Out<string>()], async (req, model, out) => {
      for (let i = 0; i < req.steps; i++) await out.emit(await model.call("echo", `${req.job}:${i}`, i % 3));
    });
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const jobs = Array.from({ length: 50 }, (_, job) => inference.infer({ job, steps: 4 + (job % 5) }).spawn());
    expect(inference.activeJobs).toBe(50);
    const results = await Promise.all(
      jobs.map(async (job) => {
        const items: string[] = [];
        for await (const item of job.stream) items.push(item);
        await job.join();
        return items;
      }),
    );
    results.forEach((items, job) => {
      expect(items).toEqual(Array.from({ length: 4 + (job % 5) }, (_, i) => `${job}:${i}`));
    });
    const after = await shared.host.call("stats");
    expect(after.overlaps).toBe(0);
    expect(after.maxInFlight).toBe(1);
    expect(after.calls - before.calls).toBe(results.flat().length);
    await inference.close();
  });

  it("runs operations FIFO even when they are async inside the worker", async () => {
    const start = (await shared.host.call("stats")).count;
    const calls = Array.from({ length: 60 }, (_, i) => shared.host.call("slowAdd", 1, (i * 7) % 4));
    const values = await Promise.all(calls);
    expect(values).toEqual(values.map((_, i) => start + i + 1));
    const stats = await shared.host.call("stats");
    expect(stats.overlaps).toBe(0);
    expect(stats.maxInFlight).toBe(1);
  });

  it("two inferences sharing one shared.host see one model and one queue", async () => {
    const adder = handler([In<number>(), Model<Counter>()], (n, model) => model.call("slowAdd", n, 1));
    const reader = handler([Model<Counter>()], async (model) => (await model.call("stats")).count);
    const a = await new InferenceBuilder().withModel(shared.host).build(adder);
    const b = await new InferenceBuilder().withModel(shared.host).build(reader);
    const base = (await b.infer(undefined).run())[0] ?? 0;
    await Promise.all(Array.from({ length: 10 }, () => a.infer(2).run()));
    expect(await b.infer(undefined).run()).toEqual([base + 20]);
    await a.close();
    expect(shared.host.state).toBe("ready");
    await b.close();
  });
});
