/**
 * The streamed text is exactly the decoded text: over seeded sampled runs, the concatenated `token`s equal
 * decode(every non-special id), and no output ever carries U+FFFD (a broken UTF-8 character). The seeds are
 * runs whose tokens form valid UTF-8: at much higher temperatures this model samples stray byte tokens, and then
 * decode() itself yields U+FFFD, which the stream then faithfully reproduces.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drain, hostModel, summarize, type Hosted } from "./helpers.js";

let model: Hosted;
beforeAll(async () => {
  model = await hostModel();
});
afterAll(() => model.close());

const RUNS = [
  { prompt: "In the beginning", seed: 1, temperature: 1.0 },
  { prompt: "Jesus wept.", seed: 2, temperature: 1.2 },
  { prompt: "The LORD is my shepherd;", seed: 3, temperature: 0.8, topP: 0.9 },
  { prompt: "Psalms 23\n\n", seed: 4, temperature: 1.0, topK: 50 },
  { prompt: "Café — naïve «quotes» 🙂 and", seed: 5, temperature: 1.5 },
];

describe("streamed text equals decoded ids", () => {
  it.each(RUNS)("$prompt (seed $seed)", async (run) => {
    const outputs = await drain(model.inference.infer({ ...run, maxTokens: 60 }).spawn());
    const { ids, text } = summarize(outputs);
    const plain = outputs.filter((o) => !o.special).map((o) => o.tokenId);
    expect(text).toBe(await model.host.call("decode", plain));
    expect(await model.host.call("decode", ids)).toBe(text); // decode skips special ids itself
    expect(text).not.toContain("\uFFFD");
    for (const o of outputs) expect(o.token).not.toContain("\uFFFD");
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});
