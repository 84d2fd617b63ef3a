import { Cancel, CpuPool, InferenceBuilder, InferenceError, In, Model, Out, handler, type ErrorCode, type Job } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { deferred, rejection, useCounterHost } from "./helpers.js";

describe("cancellation", () => {
  const shared = useCounterHost({ start: 0 });

  /** A generator that never stops on its own; it counts its model operations (`running` resolves at the first). */
  function endless() {
    const stats = { ops: 0, opsAtCancel: -1, sawCancel: false, finished: false, running: deferred() };
    const h = handler([Model<Counter>(), Cancel(), Out<number>()], async (model, cancel, out) => {
      try {
        for (;;) {
          cancel.throwIfCancelled();
          const value = await model.call("slowAdd", 1, 2);
          stats.ops++;
          stats.running.resolve();
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
    const inference = await new InferenceBuilder().withModel(shared.host).withBufferSize(1).build(h);
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
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const job = inference.infer(undefined).spawn();
    let n = 0;
    for await (const _ of job.stream) if (++n === 5) break;
    await rejection(job.join(), "CANCELLED");
    expect(stats.sawCancel).toBe(true);
    await inference.close();
  });

  it("a caller's AbortSignal cancels the job (withSignal and run(signal))", async () => {
    const { h, stats } = endless();
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const controller = new AbortController();
    const job = inference.infer(undefined).withSignal(controller.signal).spawn();
    const iterator = job.stream[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    await rejection(job.join(), "CANCELLED");

    const second = new AbortController();
    stats.running = deferred();
    const running = inference.infer(undefined).run(second.signal);
    await stats.running.promise;
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
    const full = deferred();
    let released: Promise<InferenceError> | undefined;
    const h = handler([Out<number>()], async (out) => {
      await out.emit(0);
      await out.emit(1);
      const blocked = out.emit(2); // the buffer holds 2: this one waits for a reader that never comes
      released = rejection(blocked, "CANCELLED");
      full.resolve();
      await blocked;
    });
    const inference = await new InferenceBuilder().withBufferSize(2).build(h);
    const job = inference.infer(undefined).spawn();
    await full.promise;
    expect(job.stream.buffered).toBe(job.stream.capacity);
    job.cancel();
    await released;
    await rejection(job.join(), "CANCELLED");
    await inference.close();
  });

  it("an already-aborted signal does not hide a refusal: the stream throws what join() rejects with", async () => {
    const release = deferred();
    const h = handler([In<number>()], async (n) => {
      await release.promise;
      return n;
    });
    const inference = await new InferenceBuilder().withMaxJobs(1).build(h);
    const busy = inference.infer(1).spawn();
    const aborted = AbortSignal.abort();
    const refusals: [ErrorCode, Job<number>][] = [["OVERLOADED", inference.infer(2).withSignal(aborted).spawn()]];
    release.resolve();
    await busy.join();
    await inference.close();
    refusals.push(["NOT_READY", inference.infer(3).withSignal(aborted).spawn()]);
    for (const [code, job] of refusals) {
      const joined = await rejection(job.join(), code);
      await expect(job.stream[Symbol.asyncIterator]().next()).rejects.toBe(joined);
      expect(job.status).toBe("failed");
    }
  });

  it("spawn, run and a CpuPool report the same CANCELLED for the same aborted signal", async () => {
    const h = handler([In<number>()], (n) => n);
    const inference = await new InferenceBuilder().build(h);
    const pool = new CpuPool<{ values: number[] }, { sum: number }>({ filename: new URL("../fixtures/runtime/sum-task.mjs", import.meta.url) });
    for (const signal of [AbortSignal.abort(), AbortSignal.abort("client went away"), AbortSignal.abort(new Error("timeout"))]) {
      const spawned = await rejection(inference.infer(1).withSignal(signal).spawn().join(), "CANCELLED");
      const ran = await rejection(inference.infer(1).run(signal), "CANCELLED");
      const pooled = await rejection(pool.run({ values: [1] }, { signal }), "CANCELLED");
      expect(ran.message).toBe(spawned.message);
      expect(pooled.message).toBe(spawned.message);
    }
    await pool.close();
    await inference.close();
  });

  it("run(signal) applies to that run only; withSignal refuses a non-signal", async () => {
    const h = handler([In<number>()], (n) => n);
    const inference = await new InferenceBuilder().build(h);
    const builder = inference.infer(5);
    const controller = new AbortController();
    expect(await builder.run(controller.signal)).toEqual([5]);
    controller.abort();
    expect(await builder.run()).toEqual([5]);
    const job = builder.spawn();
    await job.join();
    expect(job.status).toBe("completed");
    expect(() => builder.withSignal({} as AbortSignal)).toThrow(TypeError);
    expect(() => builder.withSignal({} as AbortSignal)).toThrow(/signal/);
    await inference.close();
  });
});
