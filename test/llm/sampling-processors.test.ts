import { describe, expect, it } from "vitest";
import {
  applyFrequencyPresencePenalty,
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  countTokens,
  sampleIndex,
  softmax,
} from "../../packages/llm/src/sampling/processors.js";
import { Rng } from "../../packages/llm/src/sampling/rng.js";

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const counts = (n: number, history: number[]): Int32Array => {
  const c = new Int32Array(n);
  countTokens(history, c);
  return c;
};

describe("penalties change logits exactly as specified", () => {
  it("countTokens counts occurrences and ignores out-of-range ids", () => {
    expect([...counts(4, [1, 1, 3, 9, -1])]).toEqual([0, 2, 0, 1]);
  });
  it("repetition penalty (HF): seen negative logits ×p, seen others ÷p, unseen untouched, once per token", () => {
    const l = f32([2, -2, 0, 3, -1]);
    applyRepetitionPenalty(l, counts(5, [0, 1, 1, 1, 2]), 2);
    expect([...l]).toEqual([1, -4, 0, 3, -1]);
    const m = f32([2, -2]);
    applyRepetitionPenalty(m, counts(2, [0, 1]), 0.5); // p < 1 rewards repetition
    expect([...m]).toEqual([4, -1]);
  });
  it("frequency / presence (OpenAI): logit −= count·freq + (count>0)·presence", () => {
    const l = f32([1, 1, 1, 1]);
    applyFrequencyPresencePenalty(l, counts(4, [0, 2, 2, 2]), 0.5, 0.25);
    expect([...l]).toEqual([1 - 0.5 - 0.25, 1, 1 - 1.5 - 0.25, 1]);
    const n = f32([0, 0]);
    applyFrequencyPresencePenalty(n, counts(2, [1]), -1, -2); // negative values encourage
    expect([...n]).toEqual([0, 3]);
  });
});

describe("argmax / temperature / softmax", () => {
  it("argmax takes the lowest id on ties and ignores NaN", () => {
    expect(argmax(f32([1, 5, 5, 2]))).toBe(1);
    expect(argmax(f32([NaN, -1, NaN]))).toBe(1);
    expect(argmax(f32([-Infinity, -Infinity]))).toBe(0);
  });
  it("temperature divides after shifting the largest logit to 0 (softmax unchanged)", () => {
    const l = f32([1, -2, 4]);
    applyTemperature(l, 0.5);
    expect([...l]).toEqual([-6, -12, 0]); // (x − 4) / 0.5
    const same = f32([1, -2, 4]);
    applyTemperature(same, 1);
    expect([...same]).toEqual([1, -2, 4]); // 1: nothing to do
  });
  it("a tiny temperature cannot overflow: the maxima become 0, the rest large negative or -Infinity", () => {
    const l = f32([5, 10, 3, 10, -Infinity, NaN]);
    applyTemperature(l, 1e-38);
    expect([...l]).toEqual([-Infinity, 0, -Infinity, 0, -Infinity, NaN]);
    const close = f32([1, 1 + 2 ** -20]);
    applyTemperature(close, 1e-30);
    expect(close[1]).toBe(0);
    expect(close[0]).toBeLessThan(-1e20);
    const inf = f32([1, Infinity, 2]);
    applyTemperature(inf, 0.5);
    expect([...inf]).toEqual([-Infinity, 0, -Infinity]);
    const masked = f32([-Infinity, NaN]);
    applyTemperature(masked, 1e-38);
    expect([...masked]).toEqual([-Infinity, NaN]);
  });
  it("softmax gives masked tokens 0 and sums to 1", () => {
    const p = new Float64Array(4);
    expect(softmax(f32([0, Math.log(3), -Infinity, NaN]), p)).toBe(true);
    expect(p[0]).toBeCloseTo(0.25, 6);
    expect(p[0] + p[1]).toBeCloseTo(1, 12);
    expect(p[1]).toBeCloseTo(0.75, 6);
    expect([p[2], p[3]]).toEqual([0, 0]);
    expect(softmax(f32([-Infinity]), new Float64Array(1))).toBe(false);
  });
});

describe("top-k", () => {
  it("keeps the k largest and every tie with the k-th (HF semantics)", () => {
    const a = f32([1, 3, 3, 2]);
    applyTopK(a, 2);
    expect([...a]).toEqual([-Infinity, 3, 3, -Infinity]);
    const b = f32([1, 3, 3, 2]);
    applyTopK(b, 3);
    expect([...b]).toEqual([-Infinity, 3, 3, 2]);
    const c = f32([3, 3, 3, 1]);
    applyTopK(c, 2);
    expect([...c]).toEqual([3, 3, 3, -Infinity]);
    const d = f32([1, 2]);
    applyTopK(d, 5); // k ≥ n: no-op
    expect([...d]).toEqual([1, 2]);
  });
  it("agrees with a full sort on random logits (partial selection)", () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + (rng.nextU32() % 300);
      const l = new Float32Array(n);
      for (let i = 0; i < n; i++) l[i] = Math.round((rng.nextFloat() * 20 - 10) * 4) / 4; // many ties
      const k = 1 + (rng.nextU32() % n);
      const threshold = [...l].sort((x, y) => y - x)[k - 1];
      const want = [...l].map((x) => (x >= threshold ? x : -Infinity));
      applyTopK(l, k, new Float32Array(n));
      expect([...l]).toEqual(want);
    }
  });
});

describe("top-p", () => {
  it("keeps the smallest most-probable set with mass ≥ p", () => {
    const p = Float64Array.from([0.1, 0.2, 0.3, 0.25, 0.15]);
    applyTopP(p, 0.5);
    expect([...p]).toEqual([0, 0, 0.3, 0.25, 0]);
    const q = Float64Array.from([0.5, 0.25, 0.25]);
    applyTopP(q, 0.5); // exactly reaching p stops there
    expect([...q]).toEqual([0.5, 0, 0]);
  });
  it("always keeps at least one token; ties go to the lower id", () => {
    const p = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
    applyTopP(p, 1e-9);
    expect([...p]).toEqual([0.25, 0, 0, 0]);
  });
  it("matches HF's sort-based rule on random distributions", () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + (rng.nextU32() % 200);
      const l = new Float32Array(n);
      for (let i = 0; i < n; i++) l[i] = rng.nextFloat() * 8;
      const probs = new Float64Array(n);
      softmax(l, probs);
      const topP = 0.05 + rng.nextFloat() * 0.9;
      // HF: sort ascending, remove tokens whose cumulative probability ≤ 1 − top_p
      const order = [...probs.keys()].sort((a, b) => probs[a] - probs[b]);
      const keep = new Set<number>();
      let cum = 0;
      for (const i of order) {
        cum += probs[i];
        if (cum > 1 - topP + 1e-12) keep.add(i);
      }
      const want = [...probs].map((x, i) => (keep.has(i) ? x : 0));
      applyTopP(probs, topP);
      expect([...probs]).toEqual(want);
    }
  });
});

describe("min-p", () => {
  it("drops tokens below min_p × the top probability", () => {
    const p = Float64Array.from([0.5, 0.3, 0.15, 0.05]);
    applyMinP(p, 0.2);
    expect([...p]).toEqual([0.5, 0.3, 0.15, 0]);
    const q = Float64Array.from([0.4, 0.4, 0.2]);
    applyMinP(q, 0.99);
    expect([...q]).toEqual([0.4, 0.4, 0]);
  });
});

describe("sampleIndex", () => {
  it("maps u onto cumulative weights and skips zeros", () => {
    const w = Float64Array.from([0, 0.25, 0, 0.75]);
    expect(sampleIndex(w, 0)).toBe(1);
    expect(sampleIndex(w, 0.2499)).toBe(1);
    expect(sampleIndex(w, 0.25)).toBe(3);
    expect(sampleIndex(w, 0.999999)).toBe(3);
    expect(sampleIndex(new Float64Array(3), 0.5)).toBe(-1);
  });
});
