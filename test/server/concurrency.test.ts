/**
 * 64 streaming clients at once against a server that runs 8 and queues 16: each either gets exactly its greedy
 * reference (no lost, mixed or garbled stream) or a clean 429; nothing is left running afterwards.
 * (bench/server.ts runs the longer version and measures it.)
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REF } from "../generation/helpers.js";
import { MODEL, metric, referenceModel, scrape, startServer, type Running } from "./helpers.js";

const CLIENTS = 64;
// long enough that a wave of 8 outlasts the arrival of all 64 requests, so the queue overflows on a loaded machine too (with 6 tokens it once never did)
const MAX_TOKENS = 48;
let running: Running;
let expected: string[];
beforeAll(async () => {
  const lib = await referenceModel();
  try {
    expected = [];
    for (const p of REF.prompts) expected.push((await lib.of({ prompt: p.prompt, maxTokens: MAX_TOKENS })).text);
  } finally {
    await lib.close();
  }
  running = await startServer({ maxConcurrent: 8, maxQueued: 16 });
});
afterAll(() => running.close());

describe("64 concurrent streaming clients", () => {
  it("each completes exactly as its reference or is refused with 429", async () => {
    const client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const outcomes = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const k = i % REF.prompts.length;
        try {
          const stream = await client.completions.create({ model: MODEL, prompt: REF.prompts[k].prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true });
          let text = "";
          let finish: string | null = null;
          for await (const chunk of stream) {
            text += chunk.choices[0].text;
            finish = chunk.choices[0].finish_reason ?? finish;
          }
          return { kind: "served" as const, ok: text === expected[k] && finish === "length", text, want: expected[k] };
        } catch (error) {
          const api = error as InstanceType<typeof OpenAI.APIError>;
          return { kind: "refused" as const, ok: api.status === 429 && api.code === "OVERLOADED" && api.headers?.get("retry-after") === "1", text: String(error), want: "" };
        }
      }),
    );
    const bad = outcomes.filter((o) => !o.ok);
    expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
    const served = outcomes.filter((o) => o.kind === "served").length;
    const refused = outcomes.filter((o) => o.kind === "refused").length;
    expect(served).toBeGreaterThanOrEqual(8 + 16);
    expect(refused).toBeGreaterThan(0);

    const text = await scrape(running.url);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "success" })).toBe(served);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "overloaded" })).toBe(refused);
    expect(metric(text, "actorlm_generated_tokens_total", { model: MODEL })).toBe(served * MAX_TOKENS);
    expect(metric(text, "actorlm_time_to_first_token_seconds_count", { model: MODEL })).toBe(served);
    expect(metric(text, "actorlm_inter_token_latency_seconds_count", { model: MODEL })).toBe(served * (MAX_TOKENS - 1));
    expect(metric(text, "actorlm_active_sequences", { model: MODEL })).toBe(0);
    expect(metric(text, "actorlm_queue_size", { model: MODEL })).toBe(0);
    expect(await running.server.models.get(MODEL).host.call("activeSequences")).toBe(0);
  });
});
