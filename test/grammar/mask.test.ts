/**
 * The sampler's grammar hook: a bitmask leaves every other id out, greedy and sampled, whatever the temperature and
 * filters; bits past the logits row are ignored. Log-probabilities are the model's own, before any processor.
 */
import { describe, expect, it } from "vitest";
import { applyTokenMask, logSumExp, Sampler, sampleSeed, stepLogprobs } from "@actorlm/llm";
import { Rng } from "@actorlm/llm";

/** A bitmask over `size` ids with exactly `allowed` set (and every bit past `size` set, as xgrammar leaves them). */
function bitmask(size: number, allowed: readonly number[]): Int32Array {
  const words = new Int32Array(Math.ceil(size / 32) + 1);
  for (const id of allowed) words[id >> 5] |= 1 << (id & 31);
  for (let id = size; id < words.length * 32; id++) words[id >> 5] |= 1 << (id & 31);
  return words;
}

function randomLogits(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.nextFloat() - 0.5) * 20);
}

describe("applyTokenMask", () => {
  it("sets exactly the masked ids to -Infinity and ignores bits past the row", () => {
    const logits = Float32Array.from({ length: 70 }, (_, i) => i);
    applyTokenMask(logits, bitmask(70, [0, 31, 32, 69]));
    expect([...logits.keys()].filter((i) => logits[i] > -Infinity)).toEqual([0, 31, 32, 69]);
  });
});

describe("Sampler with a grammar mask", () => {
  const n = 300;
  const rng = new Rng(11);
  const settings = [{ temperature: 0 }, { temperature: 1 }, { temperature: 0.3, topK: 5 }, { temperature: 1.5, topP: 0.9, minP: 0.01 }, { temperature: 1, repetitionPenalty: 1.3, presencePenalty: 1 }];
  it.each(settings)("never picks a masked id (%o)", (params) => {
    for (let trial = 0; trial < 200; trial++) {
      const allowed = [...new Set(Array.from({ length: 1 + (trial % 7) }, () => Math.floor(rng.nextFloat() * n)))];
      const sampler = new Sampler({ ...params, seed: trial }, [1, 2, 3]);
      const id = sampler.sample(randomLogits(rng, n), bitmask(n, allowed));
      expect(allowed).toContain(id);
    }
  });

  it("greedy under a mask is the argmax of the allowed ids", () => {
    const logits = randomLogits(rng, n);
    const allowed = [5, 17, 250];
    const best = allowed.reduce((a, b) => (logits[b] > logits[a] ? b : a));
    expect(new Sampler({ temperature: 0 }).sample(logits, bitmask(n, allowed))).toBe(best);
  });
});

describe("stepLogprobs", () => {
  it("is the log-softmax of the raw row, top ids most likely first", () => {
    const logits = randomLogits(new Rng(3), 1000);
    const lse = logSumExp(logits);
    const { logprob, top } = stepLogprobs(logits, 42, 20);
    expect(logprob).toBeCloseTo(logits[42] - lse, 10);
    const sorted = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, 20);
    expect(top.map((t) => t.tokenId)).toEqual(sorted);
    top.forEach((t) => expect(t.logprob).toBeCloseTo(logits[t.tokenId] - lse, 10));
    expect(stepLogprobs(logits, 42, 0).top).toEqual([]);
  });
});

describe("sampleSeed", () => {
  it("keeps the seed for sample 0 and gives every later sample its own safe-integer seed", () => {
    expect(sampleSeed(1234, 0)).toBe(1234);
    const seeds = Array.from({ length: 16 }, (_, i) => sampleSeed(1234, i));
    expect(new Set(seeds).size).toBe(16);
    seeds.forEach((s) => expect(Number.isSafeInteger(s)).toBe(true));
    expect(sampleSeed(1234, 5)).toBe(sampleSeed(1234, 5));
  });
});
