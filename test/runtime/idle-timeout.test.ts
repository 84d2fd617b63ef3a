/**
 * A stream nobody reads cannot hold a job (and what its handler holds in the model) forever: once its buffer is
 * full and unread for the idle timeout, the job is cancelled and the handler's cleanup runs.
 */
import { Cancel, InferenceBuilder, Model, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import type { Counter } from "../fixtures/runtime/counter.mjs";
import { deferred, rejection, useCounterHost } from "./helpers.js";

describe("stream idle timeout", () => {
  const shared = useCounterHost({ start: 0 });

  /** A handler that takes a "slot" (add 1), emits `n` values, and gives the slot back (add -1) however it ends. */
  function slotHolder() {
    const cleaned = deferred();
    const h = handler([Model<Counter>(), Cancel(), Out<number>()], async (model, cancel, out) => {
      await model.call("add", 1);
      try {
        for (let i = 0; i < 1000; i++) {
          cancel.throwIfCancelled();
          await out.emit(i);
        }
      } finally {
        await model.call("add", -1);
        cleaned.resolve();
      }
    });
    return { h, cleaned: cleaned.promise };
  }

  it("a full stream left unread is cancelled after the timeout and its handler cleans up", async () => {
    const { h, cleaned } = slotHolder();
    const before = (await shared.host.call("stats")).count;
    const inference = await new InferenceBuilder().withModel(shared.host).withBufferSize(2).withStreamIdleTimeout(50).build(h);
    const job = inference.infer(undefined).spawn(); // nobody reads it
    const error = await rejection(job.join(), "CANCELLED");
    expect(error.message).toMatch(/not read for 50 ms/);
    await cleaned;
    expect((await shared.host.call("stats")).count).toBe(before);
    expect(job.stream.buffered).toBe(0);
    await inference.close();
  });

  it("a reader that keeps reading is never timed out, however long the stream", async () => {
    const h = handler([Model<Counter>(), Out<number>()], async (model, out) => {
      for (let i = 0; i < 200; i++) await out.emit(await model.call("add", 0));
    });
    const inference = await new InferenceBuilder().withModel(shared.host).withBufferSize(1).withStreamIdleTimeout(1000).build(h);
    const job = inference.infer(undefined).spawn();
    let n = 0;
    for await (const _ of job.stream) {
      n++;
      await shared.host.call("add", 0); // the reader is busy too, but takes every value well within the timeout
    }
    await job.join();
    expect(n).toBe(200);
    await inference.close();
  });

  it("a stream that is not full is not timed out: the job completes and its values wait for the reader", async () => {
    const h = handler([Out<number>()], async (out) => {
      await out.emit(1);
      await out.emit(2);
    });
    const inference = await new InferenceBuilder().withBufferSize(4).withStreamIdleTimeout(1).build(h);
    const job = inference.infer(undefined).spawn();
    await job.join();
    const values: number[] = [];
    for await (const v of job.stream) values.push(v);
    expect(values).toEqual([1, 2]);
    await inference.close();
  });

  it("Infinity turns it off; the option is checked", () => {
    expect(() => new InferenceBuilder().withStreamIdleTimeout(Infinity)).not.toThrow();
    for (const bad of [0, -1, 1.5, NaN]) expect(() => new InferenceBuilder().withStreamIdleTimeout(bad)).toThrow(RangeError);
    expect(() => new InferenceBuilder().withStreamIdleTimeout("10" as unknown as number)).toThrow(TypeError);
  });
});
