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
  // identical greedy requests would otherwise share every block (prompt and generated tokens) and all fit the pool
  running = await startServer({ maxConcurrent: 4, maxQueued: 2, engine: { kvCacheTokens: 256, maxSequenceLength: 256, prefixCaching: false } });
});
afterAll(() => running.close());

describe("the queue bound", () => {
  it("is exact: 6 requests held (1 running, 5 waiting), queue_size 2; the next ones get 429", async () => {
    const model = running.server.models.get(MODEL);
    const controller = new AbortController();
    const body = JSON.stringify({ model: MODEL, prompt: "In the beginning", max_tokens: 200, temperature: 0, stream: true });
    const ask = () => fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: controller.signal }).then((r) => r.status, () => "gone");
    const held = Array.from({ length: 6 }, ask);
    await admitted(model, (active, queued) => active === 1 && queued === 5);
    expect(await Promise.all([ask(), ask()])).toEqual([429, 429]);
    const text = await scrape(running.url);
    expect(metric(text, "actorlm_queue_size", { model: MODEL })).toBe(2);
    expect(metric(text, "actorlm_active_sequences", { model: MODEL })).toBe(1);
    controller.abort();
    await Promise.all(held);
    await admitted(model, (active, queued) => active === 0 && queued === 0);
  });
});
