import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { Sampler } from "../../packages/llm/src/sampling/sampler.js";
import { Rng } from "../../packages/llm/src/sampling/rng.js";
import {
  applyFrequencyPresencePenalty,
  applyRepetitionPenalty,
  argmax,
  countTokens,
} from "../../packages/llm/src/sampling/processors.js";

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
  it("never picks an id at or past its vocabSize option, greedy or sampled", () => {
    const logits = Float32Array.from([0, 1, 2, 9, 8]); // ids 3 and 4 are padding past a 3-id vocabulary
    expect(new Sampler({ temperature: 0 }, [], { vocabSize: 3 }).sample(logits)).toBe(2);
    const sampler = new Sampler({ temperature: 5, seed: 3 }, [], { vocabSize: 3 });
    for (let i = 0; i < 500; i++) expect(sampler.sample(logits)).toBeLessThan(3);
    expect(new Sampler({ temperature: 0 }).sample(logits)).toBe(3); // without the option, every id is a candidate
    expect(() => new Sampler({}, [], { vocabSize: 0 })).toThrow(RangeError);
  });

  it("does not modify the logits it is given", () => {
    const l = Float32Array.from(modelLogits);
    const s = new Sampler({ temperature: 0.7, topK: 5, topP: 0.9, minP: 0.1, repetitionPenalty: 1.3, frequencyPenalty: 1 }, [0, 270]);
    s.accept(270);
    s.accept(13);
    s.sample(l);
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
    /** A greedy sampler over prompt `prompt` that has generated `generated`. */
    const after = (params: ConstructorParameters<typeof Sampler>[0], prompt: number[], generated: number[]): Sampler => {
      const s = new Sampler({ temperature: 0, ...params }, prompt);
      for (const id of generated) s.accept(id);
      return s;
    };
    expect(after({ repetitionPenalty: 1.1 }, [], [0]).sample(l)).toBe(1); // 3/1.1 < 2.9
    expect(after({ presencePenalty: 0.2 }, [], [0]).sample(l)).toBe(1);
    expect(after({ frequencyPenalty: 0.06 }, [], [0, 0]).sample(l)).toBe(1);
    expect(after({ frequencyPenalty: 0.06 }, [], [0]).sample(l)).toBe(0);
    expect(after({}, [0, 0], [0]).sample(l)).toBe(0); // no penalty configured
  });
  it("frequency / presence penalties count generated tokens only; the repetition penalty the prompt too", () => {
    const l = Float32Array.from([3, 2.9, 1, -1]);
    const prompt = [0, 0, 0, 0]; // token 0 all over the prompt
    expect(new Sampler({ temperature: 0, presencePenalty: 2 }, prompt).sample(l)).toBe(0);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 2 }, prompt).sample(l)).toBe(0);
    expect(new Sampler({ temperature: 0, frequencyPenalty: 2, presencePenalty: 2 }, prompt).sample(l)).toBe(0);
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }, prompt).sample(l)).toBe(1); // 3/1.1 < 2.9
    expect(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }, [2, 0]).sample(l)).toBe(1);
    // once generated, token 0 is penalized by frequency / presence too
    const s = new Sampler({ temperature: 0, presencePenalty: 0.2 }, prompt);
    s.accept(0);
    expect(s.sample(l)).toBe(1);
  });
  it("incremental counts give the same logits as recounting the whole history every step", () => {
    const rng = new Rng(11);
    const vocab = 64;
    const prompt = Array.from({ length: 20 }, () => Math.floor(rng.nextFloat() * vocab));
    const params = { temperature: 0, repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.3 };
    const s = new Sampler(params, prompt);
    const generated: number[] = [];
    for (let step = 0; step < 200; step++) {
      const l = randomLogits(rng, vocab, 2);
      // the reference: penalties recomputed from scratch (repetition over prompt + output, the others over the output)
      const want = Float32Array.from(l);
      const all = new Int32Array(vocab);
      countTokens([...prompt, ...generated], all);
      applyRepetitionPenalty(want, all, params.repetitionPenalty);
      const out = new Int32Array(vocab);
      countTokens(generated, out);
      applyFrequencyPresencePenalty(want, out, params.frequencyPenalty, params.presencePenalty);
      const id = s.sample(l);
      expect(id).toBe(argmax(want));
      s.accept(id);
      generated.push(id);
    }
  });
  it("penalized sampling is reproducible per seed", () => {
    const run = (seed: number): number[] => {
      const s = new Sampler({ temperature: 1, repetitionPenalty: 1.2, frequencyPenalty: 0.5, presencePenalty: 0.5, seed }, ref.prompts[0].ids);
      return Array.from({ length: 100 }, () => {
        const id = s.sample(modelLogits);
        s.accept(id);
        return id;
      });
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
  it("accept and the prompt take token ids only", () => {
    const s = new Sampler({ repetitionPenalty: 1.2 });
    expect(() => s.accept(-1)).toThrow(RangeError);
    expect(() => s.accept(1.5)).toThrow(RangeError);
    expect(() => new Sampler({ repetitionPenalty: 1.2 }, [0, Number.NaN])).toThrow(RangeError);
  });
  it("a tiny temperature is (near-)greedy over the penalized logits, without overflow", () => {
    const l = Float32Array.from([5, 10, 3]); // 10 / 1e-38 overflows float32
    for (const temperature of [1e-38, Number.MIN_VALUE, 1e-6]) {
      for (let seed = 0; seed < 20; seed++) expect(new Sampler({ temperature, seed }).sample(l)).toBe(1);
    }
    const p = Float32Array.from([3, 2.9, 1, -1]);
    expect(new Sampler({ temperature: 1e-38, repetitionPenalty: 1.1, seed: 1 }, [0]).sample(p)).toBe(1); // 3/1.1 < 2.9
    const s = new Sampler({ temperature: 1e-38, presencePenalty: 0.2, seed: 1 });
    s.accept(0);
    expect(s.sample(p)).toBe(1);
    // tied maxima stay tied (the limit of temperature → 0 is uniform over them), every other token is out
    const tied = Float32Array.from([7, 1, 7]);
    const seen = new Set(Array.from({ length: 64 }, (_, seed) => new Sampler({ temperature: 1e-38, seed }).sample(tied)));
    expect([...seen].sort()).toEqual([0, 2]);
  });
  it("a +Infinity logit wins at any temperature", () => {
    const l = Float32Array.from([1, Infinity, 2]);
    for (const temperature of [1e-38, 0.5, 1, 2]) expect(new Sampler({ temperature, seed: 1 }).sample(l)).toBe(1);
  });
  it("falls back to argmax when every logit is masked", () => {
    expect(new Sampler({ seed: 1 }).sample(Float32Array.from([-Infinity, -Infinity]))).toBe(0);
    expect(new Sampler({ seed: 1 }).sample(Float32Array.from([Number.NaN, -Infinity]))).toBe(0);
    expect(() => new Sampler().sample(new Float32Array(0))).toThrow(RangeError);
  });
  it("reuses its scratch buffers across a full 4096 vocabulary, step after step", () => {
    const s = new Sampler({ temperature: 0.8, topK: 40, topP: 0.95, minP: 0.02, repetitionPenalty: 1.1, frequencyPenalty: 0.1, seed: 3 }, ref.prompts[0].ids);
    const fields = ["work", "scratch", "probs", "heap", "seen", "generated"] as const;
    const buffers = (): unknown[] => fields.map((f) => (s as unknown as Record<string, unknown>)[f]);
    // after one sample and one accept of the largest id, every buffer has its final size
    s.sample(modelLogits);
    s.accept(modelLogits.length - 1);
    const first = buffers();
    for (let i = 0; i < 500; i++) s.accept(s.sample(modelLogits));
    buffers().forEach((b, i) => expect(b, fields[i]).toBe(first[i]));
  });
  it("top-p without top-k draws only from the nucleus of a 4096 vocabulary", () => {
    // the nucleus: most probable tokens, in order, until their mass reaches 0.9
    const max = Math.max(...modelLogits);
    const weights = Array.from(modelLogits, (x) => Math.exp(x - max));
    const total = weights.reduce((a, b) => a + b, 0);
    const order = weights.map((_, i) => i).sort((a, b) => weights[b] - weights[a] || a - b);
    const nucleus = new Set<number>();
    for (let mass = 0, k = 0; mass < 0.9; k++) {
      nucleus.add(order[k]);
      mass += weights[order[k]] / total;
    }
    expect(nucleus.size).toBeGreaterThan(1);
    const s = new Sampler({ temperature: 1, topP: 0.9, seed: 3 });
    const drawn = new Set(Array.from({ length: 500 }, () => s.sample(modelLogits)));
    for (const id of drawn) expect(nucleus.has(id), `token ${id}`).toBe(true);
    expect(drawn.size).toBeGreaterThan(1);
  });
});
