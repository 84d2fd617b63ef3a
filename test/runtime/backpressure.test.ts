import { Channel, InferenceBuilder, In, Model, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { useCounterHost } from "./helpers.js";
import type { Job } from "@actorlm/runtime";

describe("backpressure", () => {
  const shared = useCounterHost({ start: 0 });

  it("a reader that does not read stops the producer at the buffer bound", async () => {
    const bound = 8;
    const progress = { emitted: 0, maxUnread: 0 };
    let job: Job<number> | undefined;
    const producer = handler([In<number>(), Model<Counter>(), Out<number>()], async (n, model, out) => {
      for (let i = 0; i < n; i++) {
        await model.call("echo", String(i), 0);
        await out.emit(i);
        progress.emitted++;
        progress.maxUnread = Math.max(progress.maxUnread, job?.stream.buffered ?? 0);
      }
    });
    const inference = await new InferenceBuilder().withModel(shared.host).withBufferSize(bound).build(producer);
    job = inference.infer(100).spawn();

    // Let plenty of model operations go through the same FIFO: an unblocked producer would interleave with them.
    const other = handler([Model<Counter>()], async (model) => {
      for (let i = 0; i < 60; i++) await model.call("echo", String(i), 0);
    });
    const busy = await new InferenceBuilder().withModel(shared.host).build(other);
    await busy.infer(undefined).run();
    await busy.close();

    expect(progress.emitted).toBe(bound);
    expect(job.stream.buffered).toBe(bound);

    const seen: number[] = [];
    for await (const value of job.stream) seen.push(value);
    await job.join();
    expect(seen).toEqual([...Array(100).keys()]);
    expect(progress.maxUnread).toBe(bound);
    await inference.close();
  });

  it("a slow reader keeps the unread count within the bound all along", async () => {
    let maxUnread = 0;
    let job: Job<number> | undefined;
    const h = handler([In<number>(), Out<number>()], async (n, out) => {
      for (let i = 0; i < n; i++) {
        await out.emit(i);
        maxUnread = Math.max(maxUnread, job?.stream.buffered ?? 0);
      }
    });
    const inference = await new InferenceBuilder().withBufferSize(4).build(h);
    job = inference.infer(200).spawn();
    let read = 0;
    for await (const _ of job.stream) {
      read++;
      await shared.host.call("echo", "x", 0);
    }
    expect(read).toBe(200);
    expect(maxUnread).toBeLessThanOrEqual(4);
    expect(maxUnread).toBeGreaterThan(0);
    await inference.close();
  });
});

describe("Channel", () => {
  it("never holds more than its capacity and admits waiting pushes as values are taken", async () => {
    const channel = new Channel<number>(2);
    const accepted: number[] = [];
    const pushes = [0, 1, 2, 3].map((v) => channel.push(v).then(() => accepted.push(v)));
    await Promise.resolve();
    expect(channel.buffered).toBe(2);
    expect(accepted).toEqual([0, 1]);
    expect(await channel.next()).toEqual({ value: 0, done: false });
    await Promise.resolve();
    expect(accepted).toEqual([0, 1, 2]);
    expect(channel.buffered).toBe(2);
    channel.close();
    const rest: number[] = [];
    for (let r = await channel.next(); !r.done; r = await channel.next()) rest.push(r.value);
    expect(rest).toEqual([1, 2, 3]);
    await Promise.all(pushes);
  });

  it("fail() drains then throws; cancel() drops the buffer and rejects waiting pushes", async () => {
    const failing = new Channel<number>(1);
    await failing.push(1);
    failing.fail(new Error("x"));
    expect(await failing.next()).toEqual({ value: 1, done: false });
    await expect(failing.next()).rejects.toThrow("x");

    const cancelled = new Channel<number>(1);
    await cancelled.push(1);
    const waiting = cancelled.push(2);
    cancelled.cancel(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    expect(await cancelled.next()).toEqual({ value: undefined, done: true });
    await expect(cancelled.push(3)).rejects.toThrow("stop");
    expect(() => new Channel(0)).toThrow(RangeError);
  });
});
