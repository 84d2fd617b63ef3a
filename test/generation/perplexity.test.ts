/** Teacher-forced perplexity through perplexityHandler in the worker matches transformers on held-out chapter 0. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceBuilder, ModelHost } from "@actorlm/runtime";
import { LlamaModel, Tokenizer, perplexityHandler, type PerplexityResult } from "@actorlm/llm";
import { loadLlama, session } from "../llm-model/helpers.js";
import { CHAPTER0, MODEL, REF, rejection } from "./helpers.js";

/** Perplexity of chapter 0 through perplexityHandler on a host of `args` (its own worker). */
async function hostedPerplexity(args: { maxSequenceLength?: number }): Promise<PerplexityResult> {
  const windowed = await ModelHost.start(LlamaModel, { model: MODEL, backend: "js", ...args });
  const inference = await new InferenceBuilder().withModel(windowed).build(perplexityHandler);
  try {
    const [result] = await inference.infer({ text: CHAPTER0 }).run();
    return result;
  } finally {
    await inference.close();
    await windowed.close();
  }
}

/** log softmax(row)[id] in float64. */
function logProb(row: Float32Array, id: number): number {
  const max = row.reduce((m, x) => Math.max(m, x), -Infinity);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return row[id] - max - Math.log(sum);
}

let host: ModelHost<LlamaModel>;
beforeAll(async () => {
  host = await ModelHost.start(LlamaModel, { model: MODEL, backend: "js" });
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

  it("maxSequenceLength 100: windows overlapping by one token, as computed here with Llama from fresh caches", async () => {
    const result = await hostedPerplexity({ maxSequenceLength: 100 });
    const ids = (await Tokenizer.fromDir(MODEL)).encode(CHAPTER0);
    const model = await loadLlama(MODEL);
    const vocab = model.config.vocabSize;
    let nll = 0;
    let count = 0;
    for (let from = 0; from < ids.length - 1; from += 99) {          // each window starts at the last one's last token
      const window = ids.slice(from, from + 100);
      const seq = session(model, window.length);
      const logits = new Float32Array(window.length * vocab);
      for (let at = 0; at < window.length; at += 64) logits.set(seq.forward(window.slice(at, at + 64), "all"), at * vocab);
      seq.free();
      for (let t = 0; t + 1 < window.length; t++, count++) nll -= logProb(logits.subarray(t * vocab, (t + 1) * vocab), window[t + 1]);
    }
    expect(result.nTokens).toBe(438);
    expect(count).toBe(437);
    expect(Math.abs(result.meanNll - nll / count)).toBeLessThan(1e-9);
    expect(result.ppl).toBeCloseTo(Math.exp(nll / count), 6);
  });

  it("text without a token to score is VALIDATION naming text", async () => {
    const inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);
    const error = await rejection(inference.infer({ text: "" }).run(), "VALIDATION");
    expect(error.message.startsWith("text:")).toBe(true);
    await inference.close();
  });
});
