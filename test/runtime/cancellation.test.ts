import { Cancel, InferenceBuilder, InferenceError, In, Model, ModelHost, Out, handler } from "@actorlm/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { deferred, rejection } from "./helpers.js";

describe("cancellation", () => {
  let host: ModelHost<Counter>;
  beforeAll(async () => {
    host = await ModelHost.start(Counter, { start: 0 });
  });
  afterAll(async () => {
    await host.close();
  });

  /** A generator that never stops on its own; it counts its model operations. */
  function endless() {
    const stats = { ops: 0, opsAtCancel: -1, sawCancel: false, finished: false };
    const h = handler([Model<Counter>(), Cancel(), Out<number>()], async (model, cancel, out) => {
      try {
        for (;;) {
          cancel.throwIfCancelled();
          const value = await model.call("slowAdd", 1, 2);
          stats.ops++;
          await out.emit(value);
        }
      } catch (error) {
        stats.sawCancel = InferenceError.is(error, "CANCELLED");
        throw error;
      } finally {
        stats.finished = true;
      }
    });
    return { h, stats };
  }

  it("cancel() mid-stream: the handler stops within one operation, the stream ends, join() rejects CANCELLED", async () => {
    const { h, stats } = endless();
    const inference = await new InferenceBuilder().withModel(host).withBufferSize(1).build(h);
    const job = inference.infer(undefined).spawn();
    const iterator = job.stream[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) expect((await iterator.next()).done).toBe(false);
    stats.opsAtCancel = stats.ops;
    job.cancel("enough");
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    const error = await rejection(job.join(), "CANCELLED");
    expect(error.message).toContain("enough");
    expect(stats.finished).toBe(true);
    expect(stats.sawCancel).toBe(true);
    expect(stats.ops - stats.opsAtCancel).toBeLessThanOrEqual(1);
    expect(job.status).toBe("cancelled");
    expect(inference.activeJobs).toBe(0);
    await inference.close();
  });

  it("leaving a for-await early cancels the job", async () => {
    const { h, stats } = endless();
    const inference = await new InferenceBuilder().withModel(host).build(h);
    const job = inference.infer(undefined).spawn();
    let n = 0;
    for await (const _ of job.stream) if (++n === 5) break;
    await rejection(job.join(), "CANCELLED");
    expect(stats.sawCancel).toBe(true);
    await inference.close();
  });

  it("a caller's AbortSignal cancels the job (withSignal and run(signal))", async () => {
    const { h } = endless();
    const inference = await new InferenceBuilder().withModel(host).build(h);
    const controller = new AbortController();
    const job = inference.infer(undefined).withSignal(controller.signal).spawn();
    const iterator = job.stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await rejection(job.join(), "CANCELLED");

    const second = new AbortController();
    const running = inference.infer(undefined).run(second.signal);
    await host.call("echo", "let the job start", 5);
    second.abort(new Error("client went away"));
    await rejection(running, "CANCELLED");
    await inference.close();
  });

  it("an already-aborted signal rejects at once; the handler never runs", async () => {
    let calls = 0;
    const h = handler([In<number>()], (n) => {
      calls++;
      return n;
    });
    const inference = await new InferenceBuilder().build(h);
    const aborted = AbortSignal.abort();
    await rejection(inference.infer(1).run(aborted), "CANCELLED");
    const job = inference.infer(2).withSignal(aborted).spawn();
    await rejection(job.join(), "CANCELLED");
    expect(await job.stream[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
    expect(calls).toBe(0);
    await inference.close();
  });

  it("a handler throwing CANCELLED on its own cancels the job rather than failing it", async () => {
    const h = handler([Cancel()], (): number => {
      throw new InferenceError("CANCELLED", "gave up");
    });
    const inference = await new InferenceBuilder().build(h);
    const job = inference.infer(undefined).spawn();
    await rejection(job.join(), "CANCELLED");
    expect(job.status).toBe("cancelled");
    await inference.close();
  });

  it("a cancelled job waiting in emit is released at once", async () => {
    const started = deferred();
    const h = handler([Out<number>()], async (out) => {
      started.resolve();
      for (let i = 0; ; i++) await out.emit(i);
    });
    const inference = await new InferenceBuilder().withBufferSize(2).build(h);
    const job = inference.infer(undefined).spawn();
    await started.promise;
    expect(job.stream.buffered).toBeLessThanOrEqual(2);
    job.cancel();
    await rejection(job.join(), "CANCELLED");
    await inference.close();
  });
});
