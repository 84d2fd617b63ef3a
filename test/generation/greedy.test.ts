/** Greedy generation through the runtime (real worker, streaming handler) reproduces transformers' 40 greedy tokens. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { drain, hostModel, REF, summarize, type Hosted } from "./helpers.js";

let model: Hosted;
beforeAll(async () => {
  model = await hostModel();
});
afterAll(() => model.close());
// Every test leaves no KV slot behind: a finished (or stopped) sequence frees its own.
afterEach(async () => {
  expect(await model.host.call("activeSequences")).toBe(0);
});

describe("greedy conformance through the runtime", () => {
  it.each(REF.prompts.map((p, i) => [i, p] as const))("prompt %i: ids, text, indices and finish reason", async (_, ref) => {
    expect(await model.host.call("encode", ref.prompt)).toEqual(ref.ids);
    const outputs = await drain(model.inference.infer({ prompt: ref.prompt, maxTokens: 40, temperature: 0 }).spawn());
    const { ids, text, finishReason } = summarize(outputs);
    expect(ids).toEqual(ref.greedy_ids);
    expect(text).toBe(ref.greedy_text);
    expect(outputs.map((o) => o.index)).toEqual([...Array(40).keys()]);
    expect(finishReason).toBe("length");
    expect(outputs.every((o) => o.special === false)).toBe(true);
  });
});
