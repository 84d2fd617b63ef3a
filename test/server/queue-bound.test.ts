/**
 * `actorlm_queue_size` never exceeds maxQueued. The engine holds at most maxConcurrent + maxQueued requests; when
 * the KV pool, not maxConcurrent, keeps the batch small, requests holding one of the batch's places wait for blocks
 * beside the queue: the gauge counts only those with no place left, which is what maxQueued bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, admitted, metric, scrape, startServer, type Running } from "./helpers.js";

let running: Running;
beforeAll(async () => {
  // a KV pool of one sequence (256 tokens) behind a batch of 4 places and a queue of 2; prefix caching off, since these
  // identical greedy requests would otherwise share every block (prompt and generated tokens) and all fit the pool.
  // The js reference kernels on one thread take seconds over a request's 200 tokens, so all 6 are still held when the
  // metrics are read (the wasm kernels could finish one, and let another in, first).
  running = await startServer({
    maxConcurrent: 4,
    maxQueued: 2,
    engine: { kvCacheTokens: 256, maxSequenceLength: 256, prefixCaching: false, backend: "js", threads: 1 },
  });
});
afterAll(() => running.close());

describe("the queue bound", () => {
  it("is exact: with 6 requests held and more of them waiting than maxQueued, queue_size is 2 and the next ones get 429", async () => {
    const model = running.server.models.get(MODEL);
    const controller = new AbortController();
    const body = JSON.stringify({ model: MODEL, prompt: "In the beginning", max_tokens: 200, temperature: 0 });
    const ask = () => fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: controller.signal }).then((r) => r.status, () => "gone");
    const held = Array.from({ length: 6 }, ask);
    // all 6 held, more of them waiting than maxQueued: the pool, not maxConcurrent, keeps the batch small. The engine
    // may admit 4 at first and preempt once their growth fills the pool, some 60 steps of 4 rows on the js kernels:
    // seconds, and several times that on a loaded machine, so this wait is long.
    await admitted(model, (active, queued) => active + queued === 6 && queued > 2, 60_000);
    expect(await Promise.all([ask(), ask()])).toEqual([429, 429]);
    const text = await scrape(running.url);
    // however the 6 are split between running and waiting, those with no place left in the batch are 6 - 4
    expect(metric(text, "actorlm_queue_size", { model: MODEL })).toBe(2);
    const active = metric(text, "actorlm_active_sequences", { model: MODEL });
    expect(active).toBeGreaterThanOrEqual(1);
    expect(active).toBeLessThanOrEqual(4);
    controller.abort();
    expect(await Promise.all(held)).toEqual(Array(6).fill("gone"));
    await admitted(model, (active, queued) => active === 0 && queued === 0);
  }, 120_000);
});
