/**
 * End of sequence through the runtime. The model was trained on one chapter per document ("Psalms 150\n\n…"
 * followed by <|end_of_text|>), so greedy decoding of a chapter heading runs to the chapter's end and emits eos:
 * "Psalms 150\n\n" ends with eos as its 95th token, and a complete Psalm 117 is followed by eos at once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ModelInfo, TokenOutput } from "@actorlm/llm";
import { drain, hostModel, summarize, type Hosted } from "./helpers.js";

let model: Hosted;
let info: ModelInfo;
beforeAll(async () => {
  model = await hostModel();
  info = await model.host.call("info");
});
afterAll(() => model.close());
// Every test leaves no KV slot behind: a finished (or stopped) sequence frees its own.
afterEach(async () => {
  expect(await model.host.call("activeSequences")).toBe(0);
});

const PSALM_150 = "Psalms 150\n\n";
const PSALM_117 =
  "Psalms 117\n\nO praise the LORD, all ye nations: praise him, all ye people.\n" +
  "For his merciful kindness is great toward us: and the truth of the LORD endureth for ever. Praise ye the LORD.\n";

/** Checks a run that ended on eos: a special last output without text, and the text of every other token. */
async function expectEos(outputs: TokenOutput[]): Promise<void> {
  const { ids, text, finishReason } = summarize(outputs);
  const last = outputs.at(-1)!;
  expect(info.eosIds).toContain(last.tokenId);
  expect(last.special).toBe(true);
  expect(finishReason).toBe("stop");
  expect(last.token).not.toContain("<|");
  expect(text).not.toContain("<|end_of_text|>");
  expect(outputs.slice(0, -1).every((o) => !o.special && !info.eosIds.includes(o.tokenId))).toBe(true);
  expect(text).toBe(await model.host.call("decode", ids.slice(0, -1)));
}

describe("eos", () => {
  it("a chapter heading generates the chapter, then eos", async () => {
    const outputs = await drain(model.inference.infer({ prompt: PSALM_150, maxTokens: 200, temperature: 0 }).spawn());
    await expectEos(outputs);
    expect(outputs).toHaveLength(95);
    expect(outputs.at(-1)!.token).toBe("");
    const { text } = summarize(outputs);
    expect(text.startsWith("Praise ye the LORD.")).toBe(true);
    expect(text.endsWith("Let every thing that hath breath praise the LORD. Praise ye the LORD.\n")).toBe(true);
  });

  it("eos as the very first token: one special output, empty text", async () => {
    const outputs = await drain(model.inference.infer({ prompt: PSALM_117, maxTokens: 50, temperature: 0 }).spawn());
    expect(outputs).toHaveLength(1);
    await expectEos(outputs);
    expect(outputs[0]).toMatchObject({ token: "", index: 0, special: true, finishReason: "stop" });
  });

  it("text held back for a possible stop string is released when eos arrives", async () => {
    // "…Praise ye the LORD.\n" ends with a prefix of the stop, so it is held until eos settles it
    const outputs = await drain(model.inference.infer({ prompt: PSALM_150, maxTokens: 200, temperature: 0, stop: ["LORD.\nAmen"] }).spawn());
    await expectEos(outputs);
    expect(outputs).toHaveLength(95);
    expect(summarize(outputs).text.endsWith("Praise ye the LORD.\n")).toBe(true);
    expect(outputs.at(-1)!.token).toBe("LORD.\n");
  });
});
