/**
 * Cancelling a generation mid-stream through the real worker: the stream ends, join() rejects with CANCELLED,
 * and the request's KV slot is freed. Three ways: job.cancel(), leaving `for await` early, an AbortSignal.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSequence, streamingHandler, type TokenOutput } from "@actorlm/llm";
import { InferenceBuilder, type Job } from "@actorlm/runtime";
import { hostModel, REF, rejection, type Hosted } from "./helpers.js";

let model: Hosted;
beforeAll(async () => {
  model = await hostModel();
});
afterAll(() => model.close());

const REQUEST = { prompt: REF.prompts[1].prompt, maxTokens: 200, temperature: 0 };

/** How many sequences the model has ever started: ids are handed out in order, so a probe's id tells. */
async function sequencesStarted(): Promise<number> {
  const { id } = await startSequence(model.host, { prompt: "A", maxTokens: 1 });
  await model.host.call("release", id);
  return id;
}

/** Calls `check` (a round trip through the model's FIFO) until it is true; fails after 10 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await check())) if (performance.now() > deadline) throw new Error("condition not reached within 10 s");
}

/** Reads `n` outputs, checks they are the greedy ones, returns the iterator (still open). */
async function readSome(job: Job<TokenOutput>, n: number): Promise<AsyncIterator<TokenOutput, undefined>> {
  const it = job.stream[Symbol.asyncIterator]();
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    expect(r.done).toBe(false);
    expect(r.value).toMatchObject({ index: i, tokenId: REF.prompts[1].greedy_ids[i] });
  }
  expect(await model.host.call("activeSequences")).toBe(1); // the slot is live mid-stream
  return it;
}

describe("cancellation frees the KV slot", () => {
  it("job.cancel() after 3 tokens", async () => {
    const job = model.inference.infer(REQUEST).spawn();
    const it = await readSome(job, 3);
    job.cancel();
    expect(await it.next()).toEqual({ value: undefined, done: true });
    await rejection(job.join(), "CANCELLED");
    expect(job.status).toBe("cancelled");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("leaving `for await` early", async () => {
    const job = model.inference.infer(REQUEST).spawn();
    const seen: TokenOutput[] = [];
    for await (const out of job.stream) {
      seen.push(out);
      if (seen.length === 3) break;
    }
    expect(seen.map((o) => o.tokenId)).toEqual(REF.prompts[1].greedy_ids.slice(0, 3));
    await rejection(job.join(), "CANCELLED");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("an AbortSignal given with withSignal", async () => {
    const controller = new AbortController();
    const job = model.inference.infer(REQUEST).withSignal(controller.signal).spawn();
    const it = await readSome(job, 3);
    controller.abort(new Error("client went away"));
    expect((await it.next()).done).toBe(true);
    const error = await rejection(job.join(), "CANCELLED");
    expect(error.message).toContain("client went away");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("an already-aborted signal: the handler never starts a sequence", async () => {
    const before = await sequencesStarted();
    const job = model.inference.infer(REQUEST).withSignal(AbortSignal.abort()).spawn();
    await rejection(job.join(), "CANCELLED");
    expect(await sequencesStarted()).toBe(before + 1); // only the probe itself started one in between
  });

  it("run(signal) aborted while the sequence is live rejects with CANCELLED and frees the slot", async () => {
    const controller = new AbortController();
    const running = model.inference.infer(REQUEST).run(controller.signal);
    // each call queues behind the job's start or a step, so the sequence is live within a few calls
    await until(async () => (await model.host.call("activeSequences")) === 1);
    controller.abort();
    await rejection(running, "CANCELLED");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("a job blocked on a full stream buffer (nobody reading) is cancelled and frees its slot", async () => {
    const job = model.inference.infer(REQUEST).spawn();
    // with nobody reading, the handler stops after filling the buffer (one step per call below); the slot stays live
    await until(async () => (await model.host.call("activeSequences"), job.stream.buffered === job.stream.capacity));
    expect(await model.host.call("activeSequences")).toBe(1);
    job.cancel();
    await rejection(job.join(), "CANCELLED");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("a stream nobody reads is cancelled after the idle timeout and frees its slot", async () => {
    const idle = await new InferenceBuilder().withModel(model.host).withBufferSize(2).withStreamIdleTimeout(100).build(streamingHandler);
    const job = idle.infer(REQUEST).spawn(); // never read
    const error = await rejection(job.join(), "CANCELLED");
    expect(error.message).toMatch(/not read for 100 ms/);
    expect(await model.host.call("activeSequences")).toBe(0);
    await idle.close();
  });

  it("closing the inference cancels its running jobs and frees their slots; the shared host keeps working", async () => {
    const other = await new InferenceBuilder().withModel(model.host).build(streamingHandler);
    const jobs = [other.infer(REQUEST).spawn(), other.infer({ ...REQUEST, prompt: "Jesus wept." }).spawn()];
    await Promise.all(jobs.map((job) => job.stream[Symbol.asyncIterator]().next()));
    expect(await model.host.call("activeSequences")).toBe(2);
    await other.close();
    for (const job of jobs) await rejection(job.join(), "CANCELLED");
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("after the cancellations the model still generates the greedy text", async () => {
    const [first] = REF.prompts;
    const outputs = await model.inference.infer({ prompt: first.prompt, maxTokens: 40, temperature: 0 }).run();
    expect(outputs.map((o) => o.tokenId)).toEqual(first.greedy_ids);
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});
