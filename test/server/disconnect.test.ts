/**
 * A client that goes away cancels its generation at once: the KV slot is freed (the model's own activeSequences
 * operation says 0), the metrics show it, and a request abandoned while queued never runs.
 */
import type { ServedModel } from "@actorlm/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, admitted, metric, nextRequest, scrape, sseData, startServer, type Running } from "./helpers.js";

let running: Running;
let model: ServedModel;
beforeAll(async () => {
  running = await startServer({ maxConcurrent: 1, maxQueued: 4 });
  model = running.server.models.get(MODEL);
});
afterAll(() => running.close());

const activeSequences = () => running.server.models.get(MODEL).host.call("activeSequences");
const long = (stream: boolean) => JSON.stringify({ model: MODEL, prompt: "In the beginning", max_tokens: 600, temperature: 0, stream });

/** Starts a streaming request and resolves once `chunks` SSE events arrived; `abort()` disconnects. */
async function streaming(chunks: number): Promise<{ abort(): void }> {
  const controller = new AbortController();
  const res = await fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: long(true), signal: controller.signal });
  const events = sseData(res);
  for (let i = 0; i < chunks; i++) await events.next();
  return { abort: () => controller.abort() };
}

const counts = (ok: (active: number, queued: number) => boolean) => admitted(model, ok);

describe("client disconnects", () => {
  it("mid-stream: the job is cancelled at once, its slot freed, and the metrics say so", async () => {
    const ended = nextRequest(running.server, (log) => log.path === "/v1/completions");
    const client = await streaming(3);
    expect(await activeSequences()).toBe(1);
    client.abort();
    const log = await ended;
    expect(log.outcome).toBe("cancelled");
    expect(log.completionTokens).toBeGreaterThanOrEqual(3);
    expect(log.completionTokens).toBeLessThan(100); // 600 were asked for
    expect(await activeSequences()).toBe(0);
    const text = await scrape(running.url);
    expect(metric(text, "actorlm_active_sequences", { model: MODEL })).toBe(0);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "cancelled" })).toBe(1);
    expect(metric(text, "actorlm_generated_tokens_total", { model: MODEL })).toBe(log.completionTokens);
  });

  it("while waiting for a non-streamed answer: cancelled too", async () => {
    const ended = nextRequest(running.server, (log) => log.path === "/v1/completions");
    const controller = new AbortController();
    const answer = fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: long(false), signal: controller.signal });
    answer.catch(() => undefined);
    await counts((active) => active === 1);
    controller.abort();
    const log = await ended;
    expect(log.outcome).toBe("cancelled");
    expect(await activeSequences()).toBe(0);
  });

  it("while queued: the request leaves the queue and never runs", async () => {
    const first = await streaming(1);
    const controller = new AbortController();
    const abandoned = nextRequest(running.server, (log) => log.path === "/v1/completions");
    const queued = fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: long(true), signal: controller.signal });
    queued.catch(() => undefined);
    await counts((_active, waiting) => waiting === 1);
    expect(metric(await scrape(running.url), "actorlm_queue_size", { model: MODEL })).toBe(1);
    controller.abort();
    const log = await abandoned;
    expect(log.outcome).toBe("cancelled");
    expect(log.completionTokens).toBeUndefined(); // no generation ever started for it
    expect(await model.requests()).toEqual({ active: 1, queued: 0 });
    expect(await activeSequences()).toBe(1); // only the first one's
    const firstEnded = nextRequest(running.server, (l) => l.path === "/v1/completions");
    first.abort();
    await firstEnded;
    expect(await activeSequences()).toBe(0);
    expect(metric(await scrape(running.url), "actorlm_queue_size", { model: MODEL })).toBe(0);
  });
});
