/**
 * logprobs / topLogprobs and n through the runtime (the embedded model in a real worker): the first generated token's
 * log-probability and its top alternatives equal transformers' log-softmax within 1e-3 on every reference prompt;
 * n samples share the prompt's prefill and each draws from its own seed stream.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectCompletions, DEFAULT_BLOCK_SIZE, sampleSeed, type TokenOutput } from "@actorlm/llm";
import { drain, hostModel, REF, rejection, type Hosted } from "./helpers.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The reference's extra data: the last position's top-10 logits and log-sum-exp, the full row for prompt 0. */
const EXTRA = JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures/kjv-llama.json"), "utf8")) as {
  prompts: { last_top10: [number, number][]; last_logsumexp: number }[];
  full_last_logits_prompt0: number[];
};

let model: Hosted;
beforeAll(async () => {
  model = await hostModel({ prefixCaching: true });
});
afterAll(() => model.close());

describe("logprobs", () => {
  it.each(REF.prompts.map((p, i) => [i, p] as const))("prompt %i: the first token's logprob and top 10 equal transformers' within 1e-3", async (i, ref) => {
    const [first, ...rest] = await drain(model.inference.infer({ prompt: ref.prompt, maxTokens: 3, temperature: 0, logprobs: true, topLogprobs: 10 }).spawn());
    const { last_top10: top10, last_logsumexp: lse } = EXTRA.prompts[i];
    expect(first.tokenId).toBe(ref.greedy_ids[0]);
    expect(Math.abs(first.logprob! - (top10[0][1] - lse))).toBeLessThan(1e-3);
    expect(first.topLogprobs!.map((t) => t.tokenId)).toEqual(top10.map(([id]) => id));
    first.topLogprobs!.forEach((t, k) => expect(Math.abs(t.logprob - (top10[k][1] - lse))).toBeLessThan(1e-3));
    for (const o of rest) {
      expect(o.logprob).toBeLessThanOrEqual(0);
      expect(o.topLogprobs![0].tokenId).toBe(o.tokenId); // greedy: the chosen token is the most likely one
    }
  });

  it("top 20 of prompt 0 against transformers' full logits row", async () => {
    const row = EXTRA.full_last_logits_prompt0;
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    const expected = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, 20);
    const [first] = await drain(model.inference.infer({ prompt: REF.prompts[0].prompt, maxTokens: 1, temperature: 0, logprobs: true, topLogprobs: 20 }).spawn());
    expect(first.topLogprobs!.map((t) => t.tokenId)).toEqual(expected);
    first.topLogprobs!.forEach((t) => expect(Math.abs(t.logprob - (row[t.tokenId] - lse))).toBeLessThan(1e-3));
  });

  it("sampled tokens report the model's logprob (before temperature and top-k), not the processed one", async () => {
    const outputs = await drain(model.inference.infer({ prompt: REF.prompts[0].prompt, maxTokens: 1, temperature: 5, topK: 2, seed: 1, logprobs: true }).spawn());
    const { last_top10: top10, last_logsumexp: lse } = EXTRA.prompts[0];
    const ref = top10.find(([id]) => id === outputs[0].tokenId)!;
    expect(Math.abs(outputs[0].logprob! - (ref[1] - lse))).toBeLessThan(1e-3);
    expect(outputs[0].topLogprobs).toBeUndefined();
  });

  it("refuses topLogprobs out of range or without logprobs", async () => {
    expect((await rejection(model.inference.infer({ prompt: "x", topLogprobs: 21, logprobs: true }).run(), "VALIDATION")).field).toBe("topLogprobs");
    expect((await rejection(model.inference.infer({ prompt: "x", topLogprobs: 2 }).run(), "VALIDATION")).field).toBe("topLogprobs");
  });
});

describe("n", () => {
  const prompt = REF.prompts[1].prompt.repeat(6); // several full KV blocks to share

  it("sample i equals a single request seeded sampleSeed(seed, i); the prompt is computed once", async () => {
    const before = await model.host.call("stats");
    const outputs = await drain(model.inference.infer({ prompt, maxTokens: 12, temperature: 1, seed: 99, n: 4 }).spawn());
    const after = await model.host.call("stats");
    const samples = collectCompletions(outputs);
    expect(samples).toHaveLength(4);
    expect(outputs.every((o) => o.choice !== undefined)).toBe(true);
    for (let i = 0; i < 4; i++) {
      const single = await drain(model.inference.infer({ prompt, maxTokens: 12, temperature: 1, seed: sampleSeed(99, i) }).spawn());
      expect(samples[i].tokenIds).toEqual(single.map((o: TokenOutput) => o.tokenId));
    }
    expect(new Set(samples.map((s) => s.text)).size).toBeGreaterThan(1); // their own streams
    // the 3 later samples attached the first one's full prompt blocks (the first may find them cached already)
    const length = (await model.host.call("encode", prompt)).length;
    const fullBlocks = Math.floor(length / DEFAULT_BLOCK_SIZE) * DEFAULT_BLOCK_SIZE;
    expect(after.promptTokens - before.promptTokens).toBe(4 * length);
    expect(after.cachedPromptTokens - before.cachedPromptTokens).toBeGreaterThanOrEqual(3 * fullBlocks);
    expect(fullBlocks).toBeGreaterThan(0);
  });

  it("n greedy samples are identical, with logprobs each; n out of range is refused", async () => {
    const samples = collectCompletions(await drain(model.inference.infer({ prompt, maxTokens: 8, temperature: 0, n: 3, logprobs: true }).spawn()));
    expect(samples.map((s) => s.tokenIds)).toEqual([samples[0].tokenIds, samples[0].tokenIds, samples[0].tokenIds]);
    expect(samples[2].logprobs).toHaveLength(8);
    expect((await rejection(model.inference.infer({ prompt, n: 17 }).run(), "VALIDATION")).field).toBe("n");
  });

  it("cancelling a job of n constrained samples frees every sample (and its matcher)", async () => {
    const job = model.inference.infer({ prompt, maxTokens: 200, temperature: 1, seed: 5, n: 3, grammar: { type: "regex", pattern: "[a-z ]{40,80}" } }).spawn();
    const iterator = job.stream[Symbol.asyncIterator]();
    for (let i = 0; i < 6; i++) await iterator.next();
    expect(await model.host.call("activeSequences")).toBe(3);
    job.cancel();
    await rejection(job.join(), "CANCELLED");
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});
