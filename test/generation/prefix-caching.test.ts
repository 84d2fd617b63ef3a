/**
 * Automatic prefix caching through a real model worker and the ready-made streaming handler: requests that share a
 * 300-token prefix, arriving one after another (greedy and seeded sampled), give token for token what each gives
 * alone on a model with prefix caching off, on the wasm and js backends in float32, and every one after the first
 * finds the prefix's full blocks cached (the hit counters say how many tokens); identical prompts sent at once do
 * too. After every test no block is referenced: each is free or cached and unreferenced.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LlmEngine, Tokenizer, type GenerateRequest, type LlmEngineArgs } from "@actorlm/llm";
import { CHAPTER0, MODEL, alone, drain, hostModel, staggered, type Hosted } from "./helpers.js";

/** Positions per KV block (the engine's default). */
const BLOCK = 16;
const PREFIX = 300;

/** The held-out chapter's token ids, bos first. */
const chapter = (await Tokenizer.fromDir(MODEL)).encode(CHAPTER0);

/** Request `k`: the shared 300-token prefix, then its own suffix of `k`-dependent length, sampled as `sampling` says. */
function request(k: number, maxTokens: number, sampling: Partial<GenerateRequest>): GenerateRequest {
  const suffix = chapter.slice(PREFIX + 40 * k, PREFIX + 40 * k + 3 + 5 * k);
  return { prompt: [...chapter.slice(0, PREFIX), ...suffix], maxTokens, temperature: 0, ...sampling };
}

/** A prompt no other request shares (the chapter's ids backwards), for identical requests sent at once. */
const FRESH: GenerateRequest = { prompt: [chapter[0], ...chapter.slice(1, 201).reverse()], maxTokens: 4, temperature: 0 };

/** [backend, its settings, requests]: the reference backend is slow (plain loops), so fewer and shorter there. */
const BACKENDS: [string, Partial<LlmEngineArgs>, GenerateRequest[]][] = [
  ["wasm", { backend: "wasm", threads: 2 }, [
    request(0, 12, {}),
    request(1, 10, { temperature: 0.9, seed: 3 }),
    request(2, 14, {}),
    request(3, 8, { temperature: 0.7, topK: 40, seed: 11 }),
  ]],
  ["js", { backend: "js" }, [
    request(0, 4, {}),
    request(1, 3, { temperature: 0.9, seed: 3 }),
    request(2, 4, {}),
  ]],
];

describe.each(BACKENDS)("prefix caching on the %s backend (float32)", (_name, args, requests) => {
  let cold: Hosted;
  let cached: Hosted;
  let expected: number[][];
  beforeAll(async () => {
    // maxBatchTokens 64: the prefix is prefilled in chunks, beside the decode steps of earlier requests
    const engine = { ...args, dtype: "float32", maxBatchTokens: 64, maxConcurrentRequests: 8 } as const;
    cold = await hostModel({ ...engine, prefixCaching: false });
    expected = [];
    for (const r of [...requests, FRESH]) expected.push(await alone(cold, r));
    await cold.close();
    cached = await hostModel(engine);
  });
  afterAll(() => cached.close());
  afterEach(async () => {
    const stats = await cached.host.call("stats");
    expect(stats).toMatchObject({ running: 0, queued: 0, usedBlocks: 0 });
    expect(stats.freeBlocks * BLOCK).toBe(stats.capacityTokens);   // every block free, or cached and unreferenced
  });

  it("is on by default", async () => {
    expect((await cached.host.call("info")).prefixCaching).toBe(true);
  });

  it("staggered requests sharing a 300-token prefix give token for token what each gives alone without caching", async () => {
    const before = await cached.host.call("stats");
    expect(await staggered(cached, requests)).toEqual(expected.slice(0, requests.length));
    const after = await cached.host.call("stats");
    const promptTokens = requests.reduce((n, r) => n + (r.prompt as number[]).length, 0);
    expect(after.promptTokens - before.promptTokens).toBe(promptTokens);
    // every request after the first found the prefix's full blocks: 18 of them (288 tokens), never more
    const hits = after.cachedPromptTokens - before.cachedPromptTokens;
    expect(hits).toBeGreaterThanOrEqual((requests.length - 1) * Math.floor(PREFIX / BLOCK) * BLOCK);
    expect(after.prefixHitRate).toBeCloseTo(after.cachedPromptTokens / after.promptTokens, 12);
    expect(after.cachedBlocks).toBeGreaterThanOrEqual(Math.floor(PREFIX / BLOCK));
  });

  it("the same requests again, now every prefix cached, still give the same tokens", async () => {
    const before = await cached.host.call("stats");
    const again = await staggered(cached, requests);
    expect(again).toEqual(expected.slice(0, requests.length));
    const after = await cached.host.call("stats");
    expect(after.cachedPromptTokens - before.cachedPromptTokens).toBeGreaterThanOrEqual(requests.length * Math.floor(PREFIX / BLOCK) * BLOCK);
  });

  it("identical prompts sent at once give what one gives alone, and the later ones attach the first one's prefix", async () => {
    const before = await cached.host.call("stats");
    const jobs = [0, 1, 2].map(() => cached.inference.infer(FRESH).spawn());
    const runs = await Promise.all(jobs.map((job) => drain(job)));
    for (const run of runs) expect(run.map((o) => o.tokenId)).toEqual(expected.at(-1));
    const after = await cached.host.call("stats");
    const n = (FRESH.prompt as number[]).length;
    expect(after.promptTokens - before.promptTokens).toBe(3 * n);
    expect(after.cachedPromptTokens - before.cachedPromptTokens).toBe(2 * Math.floor((n - 1) / BLOCK) * BLOCK);
  });
});

describe("prefixCaching: false", () => {
  it("is refused unless a boolean, and reported by info()", async () => {
    const model = await hostModel({ prefixCaching: false });
    try {
      expect((await model.host.call("info")).prefixCaching).toBe(false);
      await drain(model.inference.infer({ prompt: chapter.slice(0, 40), maxTokens: 2, temperature: 0 }).spawn());
      await drain(model.inference.infer({ prompt: chapter.slice(0, 40), maxTokens: 2, temperature: 0 }).spawn());
      expect(await model.host.call("stats")).toMatchObject({ promptTokens: 80, cachedPromptTokens: 0, prefixHitRate: 0, cachedBlocks: 0, usedBlocks: 0 });
    } finally {
      await model.close();
    }
    expect(() => LlmEngine.validateArgs({ model: MODEL, prefixCaching: "no" })).toThrow(expect.objectContaining({ code: "VALIDATION", field: "prefixCaching" }));
  });
});
