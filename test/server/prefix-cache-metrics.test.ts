/**
 * /metrics reports the prefix cache: a prompt sent twice is found cached the second time (its full blocks but the
 * last token's), and the prompt tokens, cached tokens and hit rate say so exactly; distinct long prompts through a
 * small KV pool make cached blocks be evicted, and the eviction count says so.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAPTER0, ROOT } from "../generation/helpers.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MODEL, metric, post, scrape, startServer, type Running } from "./helpers.js";

const BLOCK = 16;
let running: Running;
beforeAll(async () => {
  running = await startServer({ engine: { kvCacheTokens: 256 } });   // 16 blocks
});
afterAll(() => running.close());

/** Sends a completion of `prompt` (2 greedy tokens); its prompt token count. */
async function complete(prompt: string): Promise<number> {
  const res = await post(`${running.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 2, temperature: 0 });
  expect(res.status).toBe(200);
  return (res.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens;
}

const gauge = (text: string, name: string) => metric(text, name, { model: MODEL });

describe("prefix cache metrics", () => {
  it("count prompt tokens, cached tokens and the hit rate", async () => {
    const prompt = CHAPTER0.split(" ").slice(0, 60).join(" ");
    const n = await complete(prompt);
    let text = await scrape(running.url);
    expect(gauge(text, "actorlm_prefix_cache_prompt_tokens")).toBe(n);
    expect(gauge(text, "actorlm_prefix_cache_cached_tokens")).toBe(0);
    expect(gauge(text, "actorlm_prefix_cache_hit_rate")).toBe(0);
    expect(gauge(text, "actorlm_prefix_cache_blocks")).toBe(Math.floor((n + 1) / BLOCK));   // prompt + 1 generated token written
    expect(await complete(prompt)).toBe(n);
    text = await scrape(running.url);
    const cached = Math.floor((n - 1) / BLOCK) * BLOCK;
    expect(gauge(text, "actorlm_prefix_cache_prompt_tokens")).toBe(2 * n);
    expect(gauge(text, "actorlm_prefix_cache_cached_tokens")).toBe(cached);
    expect(gauge(text, "actorlm_prefix_cache_hit_rate")).toBeCloseTo(cached / (2 * n), 9);
    expect(gauge(text, "actorlm_prefix_cache_evictions")).toBe(0);
  });

  it("count the cached blocks evicted to make room", async () => {
    const chapters = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/heldout-chapters.json"), "utf8")) as { chapters: string[] }).chapters;
    for (let k = 1; k <= 4; k++) await complete(chapters[k].split(" ").slice(0, 90).join(" "));   // about 9 blocks each
    const text = await scrape(running.url);
    expect(gauge(text, "actorlm_prefix_cache_evictions")).toBeGreaterThan(0);
    expect(gauge(text, "actorlm_prefix_cache_blocks")).toBeLessThanOrEqual(16);
    expect(await running.server.models.get(MODEL).host.call("stats")).toMatchObject({ usedBlocks: 0, freeBlocks: 16 });
  });
});
