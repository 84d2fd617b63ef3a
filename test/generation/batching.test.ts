/**
 * Continuous batching through a real model worker and the ready-made streaming handler: requests that share the
 * batch (arriving at different times, with different prompt lengths and max tokens, greedy and seeded sampled) give
 * token for token what each gives alone, on the wasm and js backends in float32; a cancelled request gives its KV
 * blocks back at once and leaves the others undisturbed; a flood past the queue bound is refused with OVERLOADED
 * at once while the admitted requests finish correctly. The KV pool is empty after every test.
 */
import { performance } from "node:perf_hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GenerateRequest, LlmEngineArgs, TokenOutput } from "@actorlm/llm";
import type { Job } from "@actorlm/runtime";
import { CHAPTER0, alone, drain, hostModel, reader, rejection, staggered, type Hosted } from "./helpers.js";

/** Asks `check` (a round trip through the model worker's FIFO) until it is true; fails after 10 s. */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await check())) if (performance.now() > deadline) throw new Error("condition not reached within 10 s");
}

/** The first `n` words of the held-out chapter (prompts of different lengths). */
const words = (n: number) => CHAPTER0.split(" ").slice(0, n).join(" ");

/** [backend, its settings, fewest requests per step on average (each arrives as the one before streams), requests]. */
const BACKENDS: [string, Partial<LlmEngineArgs>, number, GenerateRequest[]][] = [
  ["wasm", { backend: "wasm", threads: 2 }, 1.6, [
    { prompt: words(60), maxTokens: 24, temperature: 0 },
    { prompt: "In the beginning", maxTokens: 30, temperature: 0 },
    { prompt: words(20), maxTokens: 9, temperature: 0.9, seed: 3 },
    { prompt: words(110), maxTokens: 16, temperature: 0 },
    { prompt: "Jesus wept.", maxTokens: 20, temperature: 0.7, topK: 40, seed: 11 },
    { prompt: words(35), maxTokens: 5, temperature: 0 },
    { prompt: words(8), maxTokens: 27, temperature: 1.1, topP: 0.9, repetitionPenalty: 1.2, seed: 5 },
    { prompt: words(75), maxTokens: 12, temperature: 0 },
  ]],
  // the reference backend is slow (plain loops, float64 sums): shorter prompts and completions
  ["js", { backend: "js" }, 1.15, [
    { prompt: words(6), maxTokens: 5, temperature: 0 },
    { prompt: "In the beginning", maxTokens: 6, temperature: 0 },
    { prompt: words(3), maxTokens: 4, temperature: 0.9, seed: 3 },
    { prompt: words(7), maxTokens: 5, temperature: 0 },
    { prompt: "Jesus wept.", maxTokens: 6, temperature: 0.7, topK: 40, seed: 11 },
    { prompt: words(5), maxTokens: 3, temperature: 0 },
    { prompt: words(2), maxTokens: 6, temperature: 1.1, topP: 0.9, repetitionPenalty: 1.2, seed: 5 },
    { prompt: words(4), maxTokens: 4, temperature: 0 },
  ]],
];

describe.each(BACKENDS)("batched requests on the %s backend (float32)", (_name, args, minPerStep, requests) => {
  let model: Hosted;
  beforeAll(async () => {
    // maxBatchTokens 32: longer prompts are cut into chunks, and steps mix them with running decodes
    model = await hostModel({ ...args, dtype: "float32", maxBatchTokens: 32, maxConcurrentRequests: 8 });
  });
  afterAll(() => model.close());
  afterEach(async () => {
    expect(await model.host.call("stats")).toMatchObject({ running: 0, queued: 0, usedBlocks: 0 });
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("8 requests arriving at different times, greedy and seeded sampled, give token for token what each gives alone", async () => {
    const expected: number[][] = [];
    for (const request of requests) expected.push(await alone(model, request));
    const before = await model.host.call("stats");
    const batched = await staggered(model, requests);
    const after = await model.host.call("stats");
    expect(batched).toEqual(expected);
    expect(batched.map((ids) => ids.length)).toEqual(requests.map((r) => r.maxTokens)); // none ended early: every step compared
    // they shared forward passes: on average, several requests per step
    const perStep = (after.stepSequences - before.stepSequences) / (after.steps - before.steps);
    expect(perStep).toBeGreaterThan(minPerStep);
  });
});

describe("cancelling and flooding a batch (wasm)", () => {
  let model: Hosted;
  beforeAll(async () => {
    model = await hostModel({ maxConcurrentRequests: 3, maxQueuedRequests: 2 });
  });
  afterAll(() => model.close());
  afterEach(async () => {
    expect(await model.host.call("stats")).toMatchObject({ running: 0, queued: 0, usedBlocks: 0 });
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  const LONG: GenerateRequest[] = [
    { prompt: words(30), maxTokens: 40, temperature: 0 },
    { prompt: "In the beginning", maxTokens: 40, temperature: 0.8, seed: 9 },
    { prompt: words(12), maxTokens: 40, temperature: 0 },
  ];

  /**
   * Resolves once nothing runs: every job's stream is full (its handler waits to emit, so it asks for no outputs)
   * and two questions in a row see the same step count (a step with work left queues the next one ahead of them).
   */
  async function settled(jobs: readonly Job<TokenOutput>[]): Promise<void> {
    let last = -1;
    await until(async () => {
      const { steps } = await model.host.call("stats");
      const same = steps === last && jobs.every((job) => job.stream.buffered === job.stream.capacity);
      last = steps;
      return same;
    });
  }

  it("a cancelled request gives its KV blocks back at once and the others finish undisturbed", async () => {
    const expected: number[][] = [];
    for (const request of LONG) expected.push(await alone(model, request));
    const jobs = LONG.map((r) => model.inference.infer(r).spawn()); // nobody reads yet: each stops 8 outputs ahead
    await settled(jobs);
    const held = await model.host.call("stats");
    jobs[1].cancel();
    await rejection(jobs[1].join(), "CANCELLED");
    const after = await model.host.call("stats");
    expect(after.steps).toBe(held.steps);                          // not one more step for it (nor for anyone)
    expect(after.running).toBe(2);
    expect(after.usedBlocks).toBeLessThan(held.usedBlocks);        // its blocks are back
    const [a, c] = await Promise.all([reader(jobs[0]), reader(jobs[2])]);
    expect(a).toEqual(expected[0]);
    expect(c).toEqual(expected[2]);
  });

  it("one cancelled while it waits to join the batch never runs", async () => {
    const jobs = LONG.map((r) => model.inference.infer(r).spawn());
    await settled(jobs);
    const waiting = model.inference.infer({ prompt: "Jesus wept.", maxTokens: 5, temperature: 0 }).spawn();
    await until(async () => (await model.host.call("stats")).queued === 1);
    const { admitted } = await model.host.call("stats");
    waiting.cancel();
    await rejection(waiting.join(), "CANCELLED");
    await Promise.all(jobs.map((job) => reader(job)));
    expect((await model.host.call("stats")).admitted).toBe(admitted); // it never joined
  });

  it("a flood past the queue bound gets OVERLOADED at once while the admitted requests finish correctly", async () => {
    const requests = [...LONG, { prompt: words(20), maxTokens: 30, temperature: 0 }, { prompt: "Blessed are the", maxTokens: 30, temperature: 0 }];
    const expected: number[][] = [];
    for (const request of requests) expected.push(await alone(model, request));
    const admitted = requests.map((r) => model.inference.infer(r).spawn()); // 3 run, 2 wait; nobody reads yet
    await until(async () => {
      const s = await model.host.call("stats");
      return s.running === 3 && s.queued === 2;
    });
    const t0 = performance.now();
    const flood = Array.from({ length: 24 }, (_, i) => rejection(model.inference.infer({ prompt: words(5 + i), maxTokens: 10, temperature: 0 }).run(), "OVERLOADED"));
    await Promise.all(flood);
    const floodMs = performance.now() - t0;
    // refused without waiting for a turn: the admitted requests all still hold their places
    expect(await model.host.call("stats")).toMatchObject({ running: 3, queued: 2 });
    expect(floodMs).toBeLessThan(5_000);
    const outputs = await Promise.all(admitted.map((job) => reader(job)));
    expect(outputs).toEqual(expected);
  });
});
