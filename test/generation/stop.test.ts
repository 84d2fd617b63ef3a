/**
 * Stop strings through the runtime: output ends right before the stop's first occurrence in the greedy text,
 * finish reason "stop", no part of the stop is emitted; a stop that is never reached ends on length.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TokenOutput } from "@actorlm/llm";
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

// " of the vision and former spatthew was made a supper season, and the tidings that Jesus was the Son of God.\n…"
const REF0 = REF.prompts[0];

async function generate(stop: string[], maxTokens = 40): Promise<TokenOutput[]> {
  return drain(model.inference.infer({ prompt: REF0.prompt, maxTokens, temperature: 0, stop }).spawn());
}

/** The greedy text cut right before the first occurrence of `stop` (which must occur). */
function cutBefore(stop: string): string {
  const at = REF0.greedy_text.indexOf(stop);
  expect(at).toBeGreaterThanOrEqual(0);
  return REF0.greedy_text.slice(0, at);
}

/** Fewest greedy tokens whose text contains `stop`. */
async function tokensToComplete(stop: string): Promise<number> {
  for (let n = 1; n <= REF0.greedy_ids.length; n++) {
    if ((await model.host.call("decode", REF0.greedy_ids.slice(0, n))).includes(stop)) return n;
  }
  throw new Error(`stop ${JSON.stringify(stop)} is not in the greedy text`);
}

/**
 * Checks a stopped run against the greedy reference: the same tokens up to the one completing the stop, the text
 * cut right before the stop, and once the emitted text reached the cut, nothing more (no part of the stop) emitted.
 */
async function expectStopped(outputs: TokenOutput[], stop: string): Promise<void> {
  const { ids, text, finishReason } = summarize(outputs);
  const cut = cutBefore(stop);
  expect(text).toBe(cut);
  expect(finishReason).toBe("stop");
  expect(ids).toEqual(REF0.greedy_ids.slice(0, await tokensToComplete(stop)));
  let emitted = "";
  for (const o of outputs) {
    if (emitted.length === cut.length) expect(o.token).toBe("");
    emitted += o.token;
    expect(cut.startsWith(emitted)).toBe(true);
  }
}

describe("stop sequences", () => {
  it("a single-character stop", async () => {
    const outputs = await generate([","]);
    await expectStopped(outputs, ",");
    expect(summarize(outputs).text).toBe(" of the vision and former spatthew was made a supper season");
  });

  it("a whole-word stop", async () => {
    const outputs = await generate([" Jesus"]);
    await expectStopped(outputs, " Jesus");
    expect(summarize(outputs).text).toBe(" of the vision and former spatthew was made a supper season, and the tidings that");
  });

  it("a stop spanning several tokens, starting and ending inside tokens, is held back and never emitted", async () => {
    const stop = "season, and the tid";
    const outputs = await generate([stop]);
    await expectStopped(outputs, stop);
    expect(summarize(outputs).text).toBe(" of the vision and former spatthew was made a supper ");
    expect((await model.host.call("encode", stop, false)).length).toBeGreaterThanOrEqual(4); // really spans tokens
  });

  it("the earliest of several stops wins", async () => {
    await expectStopped(await generate(["Son of God", " tidings", "Justus"]), " tidings");
  });

  it("a stop that is never reached ends on length with the full greedy text", async () => {
    const outputs = await generate(["Pharaoh", "zz"]);
    const { ids, text, finishReason } = summarize(outputs);
    expect(finishReason).toBe("length");
    expect(ids).toEqual(REF0.greedy_ids);
    expect(text).toBe(REF0.greedy_text);
  });

  it("a stop completed by the very first token: one output, empty text", async () => {
    const outputs = await generate([" of"]);
    await expectStopped(outputs, " of");
    expect(outputs).toEqual([{ token: "", tokenId: REF0.greedy_ids[0], index: 0, special: false, finishReason: "stop" }]);
  });

  it("text held back as a possible stop is released when maxTokens runs out first", async () => {
    const n = 26;
    const text = await model.host.call("decode", REF0.greedy_ids.slice(0, n)); // ends "… the Son of God.\n"
    const stop = `${text.slice(-6)}XYZ`; // starts with the text's last 6 characters; the rest never comes
    const outputs = await generate([stop], n);
    const { ids, text: streamed, finishReason } = summarize(outputs);
    expect(finishReason).toBe("length");
    expect(ids).toEqual(REF0.greedy_ids.slice(0, n));
    expect(streamed).toBe(text);
    expect(outputs.at(-1)!.token.endsWith(text.slice(-6))).toBe(true); // held, then released by the last step
  });

  it("only generated text is matched: a stop inside the prompt, or spanning prompt and output, does not fire", async () => {
    for (const stop of ["beginning", "beginning of"]) {
      const { ids, finishReason } = summarize(await generate([stop]));
      expect(finishReason).toBe("length");
      expect(ids).toEqual(REF0.greedy_ids);
    }
  });
});
