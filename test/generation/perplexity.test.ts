/**
 * Teacher-forced perplexity through perplexityHandler in the worker matches transformers on held-out chapter 0
 * (within the 0.1 % the README states); scored in shorter windows it matches the same windows scored here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceBuilder, ModelHost } from "@actorlm/runtime";
import { LlmEngine, Tokenizer, logSumExp, perplexityHandler, type PerplexityResult } from "@actorlm/llm";
import { loadLlama, session } from "../llm-model/helpers.js";
import { CHAPTER0, MODEL, REF, rejection } from "./helpers.js";

/** Perplexity of chapter 0 through perplexityHandler on a host of `args` (its own worker). */
async function hostedPerplexity(args: { maxSequenceLength?: number }): Promise<PerplexityResult> {
  const windowed = await ModelHost.start(LlmEngine, { model: MODEL, ...args });
  const inference = await new InferenceBuilder().withModel(windowed).build(perplexityHandler);
  try {
    const [result] = await inference.infer({ text: CHAPTER0 }).run();
    return result;
  } finally {
    await inference.close();
    await windowed.close();
  }
}

let host: ModelHost<LlmEngine>;
beforeAll(async () => {
  host = await ModelHost.start(LlmEngine, { model: MODEL });
});
afterAll(() => host.close());

describe("perplexity", () => {
  it("held-out chapter 0: 438 tokens, perplexity within 0.1 % of transformers'", async () => {
    const inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);
    const outputs = await inference.infer({ text: CHAPTER0 }).run();
    expect(outputs).toHaveLength(1);
    const [result] = outputs;
    expect(result.nTokens).toBe(REF.heldout0.n_tokens);
    expect(Math.abs(result.ppl / REF.heldout0.ppl - 1)).toBeLessThan(1e-3);
    expect(Math.abs(result.meanNll - REF.heldout0.mean_nll)).toBeLessThan(1e-3);
    expect(result.ppl).toBeCloseTo(Math.exp(result.meanNll), 6);
    await inference.close();
  });

  it("maxSequenceLength 100: windows overlapping by one token, each scored from a fresh cache", async () => {
    const result = await hostedPerplexity({ maxSequenceLength: 100 });
    // The same windows scored here, one forward pass each: window k covers ids[99k .. 99k + 99]; its first id is
    // context only (the last id of the window before), every other id is predicted from the ids before it.
    const ids = (await Tokenizer.fromDir(MODEL)).encode(CHAPTER0);
    const model = await loadLlama(MODEL);
    const vocab = model.config.vocabSize;
    let nll = 0;
    let count = 0;
    for (let from = 0; from < ids.length - 1; from += 99) {
      const window = ids.slice(from, from + 100);
      const seq = session(model, window.length);
      const logits = new Float32Array(window.length * vocab);
      for (let at = 0; at < window.length; at += model.maxLogitRows) logits.set(seq.forward(window.slice(at, at + model.maxLogitRows), "all"), at * vocab);
      seq.free();
      for (let t = 0; t + 1 < window.length; t++, count++) {
        const row = logits.subarray(t * vocab, (t + 1) * vocab);
        nll -= row[window[t + 1]] - logSumExp(row);
      }
    }
    expect(result.nTokens).toBe(REF.heldout0.n_tokens);
    expect(count).toBe(REF.heldout0.n_tokens - 1);
    expect(Math.abs(result.meanNll / (nll / count) - 1)).toBeLessThan(1e-6);
    // Windows see less context than the whole chapter: a clearly different value from the one-window reference.
    expect(Math.abs(result.meanNll - REF.heldout0.mean_nll)).toBeGreaterThan(0.1);
  });

  it("text without a token to score is VALIDATION naming text", async () => {
    const inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);
    const error = await rejection(inference.infer({ text: "" }).run(), "VALIDATION");
    expect(error.field).toBe("text");
    await inference.close();
  });
});
