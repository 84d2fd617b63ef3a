/** Teacher-forced perplexity through perplexityHandler in the worker matches transformers on held-out chapter 0. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceBuilder, ModelHost } from "@actorlm/runtime";
import { LlamaModel, perplexityHandler } from "@actorlm/llm";
import { CHAPTER0, MODEL, REF, rejection } from "./helpers.js";

let host: ModelHost<LlamaModel>;
beforeAll(async () => {
  host = await ModelHost.start(LlamaModel, { model: MODEL });
});
afterAll(() => host.close());

describe("perplexity", () => {
  it("held-out chapter 0: 438 tokens, ppl within 0.1 % of the reference", async () => {
    const inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);
    const outputs = await inference.infer({ text: CHAPTER0 }).run();
    expect(outputs).toHaveLength(1);
    const [result] = outputs;
    expect(result.nTokens).toBe(REF.heldout0.n_tokens);
    expect(result.nTokens).toBe(438);
    expect(Math.abs(result.ppl / REF.heldout0.ppl - 1)).toBeLessThan(1e-3);
    expect(Math.abs(result.meanNll - REF.heldout0.mean_nll)).toBeLessThan(1e-3);
    expect(result.ppl).toBeCloseTo(Math.exp(result.meanNll), 6);
    await inference.close();
  });

  it("text without a token to score is VALIDATION naming text", async () => {
    const inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);
    const error = await rejection(inference.infer({ text: "" }).run(), "VALIDATION");
    expect(error.message.startsWith("text:")).toBe(true);
    await inference.close();
  });
});
