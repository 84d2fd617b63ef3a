import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { Sampler } from "../../packages/llm/src/sampling/sampler.js";
import { Rng } from "../../packages/llm/src/sampling/rng.js";
import { argmax } from "../../packages/llm/src/sampling/processors.js";

const ref = JSON.parse(await readFile("test/fixtures/kjv-llama.json", "utf8")) as {
  prompts: { ids: number[]; greedy_ids: number[] }[];
  full_last_logits_prompt0: number[];
};
const modelLogits = Float32Array.from(ref.full_last_logits_prompt0); // 4096 real logits

/** Random logits in [-scale, scale). */
function randomLogits(rng: Rng, n: number, scale = 5): Float32Array {
  const l = new Float32Array(n);
  for (let i = 0; i < n; i++) l[i] = (rng.nextFloat() * 2 - 1) * scale;
  return l;
}

/** Chi-square statistic of observed counts against expected probabilities. */
function chiSquare(observed: number[], probs: number[], n: number): number {
  return observed.reduce((acc, o, i) => acc + (o - n * probs[i]) ** 2 / (n * probs[i]), 0);
}

describe("Rng (xoshiro128**)", () => {
  it("is reproducible per seed and differs across seeds", () => {
    const draw = (seed: number): number[] => {
      const r = new Rng(seed);
      return Array.from({ length: 8 }, () => r.nextU32());
    };
    expect(draw(42)).toEqual(draw(42));
    const seeds = [0, 1, 2, -1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    expect(new Set(seeds.map((s) => draw(s).join())).size).toBe(seeds.length);
    expect(() => new Rng(0.5)).toThrow(RangeError);
  });
  it("gives uniform floats in [0, 1)", () => {
    const r = new Rng(3);
    const bins = new Array<number>(10).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = r.nextFloat();
      expect(u >= 0 && u < 1).toBe(true);
      bins[Math.floor(u * 10)]++;
    }
    expect(chiSquare(bins, new Array<number>(10).fill(0.1), n)).toBeLessThan(27.88); // df 9, p = 0.001
  });
});

describe("Sampler", () => {
  it("greedy (temperature 0) is argmax, lowest id on ties", () => {
    const s = new Sampler({ temperature: 0 });
    expect(s.sample(modelLogits)).toBe(ref.prompts[0].greedy_ids[0]);
    expect(s.sample(Float32Array.from([0, 2, 2, 1]))).toBe(1);
  });
  it("does not modify the logits it is given", () => {
    const l = Float32Array.from(modelLogits);
    new Sampler({ temperature: 0.7, topK: 5, topP: 0.9, minP: 0.1, repetitionPenalty: 1.3, frequencyPenalty: 1 }).sample(
      l,
      [270, 270, 13],
    );
    expect(l).toEqual(modelLogits);
  });
  it("same seed → same sequence, different seed → different sequence", () => {
    const run = (seed: number): number[] => {
      const s = new Sampler({ temperature: 1.5, seed });
      return Array.from({ length: 50 }, () => s.sample(modelLogits));
    };
    expect(run(1234)).toEqual(run(1234));
    expect(run(1234)).not.toEqual(run(4321));
    const a = new Sampler({ temperature: 1 });
    const b = new Sampler({ temperature: 1 });
    expect(a.seed).not.toBe(b.seed); // no seed → a random one, reported for reproduction
    expect(new Sampler({ seed: a.seed }).sample(modelLogits)).toBe(a.sample(modelLogits));
  });
  it("top-k = 1 and a tiny top-p are greedy", () => {
    const rng = new Rng(99);
    const k1 = new Sampler({ temperature: 2, topK: 1, seed: 5 });
    const p0 = new Sampler({ temperature: 2, topP: 1e-9, seed: 6 });
    for (let i = 0; i < 200; i++) {
      const l = randomLogits(rng, 257);
      expect(k1.sample(l)).toBe(argmax(l));
      expect(p0.sample(l)).toBe(argmax(l));
    }
  });
  it("temperature sampling matches the softmax distribution (chi-square, fixed seed)", () => {
    const probs = [0.1, 0.2, 0.3, 0.25, 0.15];
    const logits = Float32Array.from(probs.map(Math.log));
    for (const temperature of [1, 0.5, 2]) {
      const tempered = probs.map((p) => p ** (1 / temperature));
      const z = tempered.reduce((a, b) => a + b, 0);
      const want = tempered.map((p) => p / z);
      const s = new Sampler({ temperature, seed: 2024 });
      const n = 20_000;
      const seen = new Array<number>(5).fill(0);
      for (let i = 0; i < n; i++) seen[s.sample(logits)]++;
      expect(chiSquare(seen, want, n)).toBeLessThan(18.47); // df 4, p = 0.001
    }
  });
  it("top-k / top-p / min-p restrict the draw to the kept set, renormalized", () => {
    const logits = Float32Array.from([0.1, 0.2, 0.3, 0.25, 0.15].map(Math.log));
    const cases: [ConstructorParameters<typeof Sampler>[0], number[]][] = [
      [{ topK: 2 }, [0, 0, 0.3 / 0.55, 0.25 / 0.55, 0]],
      [{ topP: 0.5 }, [0, 0, 0.3 / 0.55, 0.25 / 0.55, 0]],
      [{ minP: 0.6 }, [0, 0.2 / 0.75, 0.3 / 0.75, 0.25 / 0.75, 0]],
      [{ topK: 3, topP: 0.6 }, [0, 0, 0.3 / 0.55, 0.25 / 0.55, 0]], // within top-3 (mass .75): .4 + .333 ≥ .6
    ];
    for (const [params, want] of cases) {
      const s = new Sampler({ ...params, seed: 77 });
      const n = 10_000;
      const seen = new Array<number>(5).fill(0);
      for (let i = 0; i < n; i++) seen[s.sample(logits)]++;
      want.forEach((w, i) => {
        if (w === 0) expect(seen[i]).toBe(0);
      });
      const kept = want.map((w, i) => [w, seen[i]] as const).filter(([w]) => w > 0);
      const stat = chiSquare(kept.map(([, o]) => o), kept.map(([w]) => w), n);
      expect(stat).toBeLessThan(16.27); // df ≤ 3, p = 0.001
    }
  });
  it("penalties steer greedy decoding", () => {
    const l = Float32Array.from([3, 2.9, 1, -1]);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).sample(l, [0])).toBe(1); // 3/1.1 < 2.9
    expect(new Sampler({ temperature: 0, presencePenalty: 0.2 }).sample(l, [0])).toBe(1);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.06 }).sample(l, [0, 0])).toBe(1);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.06 }).sample(l, [0])).toBe(0);
    expect(new Sampler({ temperature: 0 }).sample(l, [0, 0, 0])).toBe(0); // no penalty configured
  });
  it("falls back to argmax when every logit is masked", () => {
    expect(new Sampler({ seed: 1 }).sample(Float32Array.from([-Infinity, -Infinity]))).toBe(0);
    expect(() => new Sampler().sample(new Float32Array(0))).toThrow(RangeError);
  });
  it("handles a full 4096 vocabulary quickly without per-token buffers", () => {
    const s = new Sampler({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0.02, repetitionPenalty: 1.1, seed: 3 });
    const history = [...ref.prompts[0].ids];
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) history.push(s.sample(modelLogits, history.slice(-64)));
    expect(performance.now() - t0).toBeLessThan(5000);
    const nucleus = new Sampler({ temperature: 1, topP: 0.9, seed: 3 }); // top-p without top-k: heap over 4096
    for (let i = 0; i < 500; i++) expect(nucleus.sample(modelLogits)).toBeLessThan(4096);
  });
});
