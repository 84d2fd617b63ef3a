/**
 * Bad requests fail alone: each is refused with VALIDATION naming the field, while a generation running beside
 * them completes exactly; a full set of KV slots refuses the next request with OVERLOADED.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { performance } from "node:perf_hooks";
import { InferenceBuilder } from "@actorlm/runtime";
import { DEFAULT_SAMPLING, LlmError, perplexityHandler, type GenerateRequest, type TokenOutput, type TokenizedRequest } from "@actorlm/llm";
import { CHAPTER0, drain, hostModel, REF, rejection, summarize, type Hosted } from "./helpers.js";

const MAX_LEN = 64;
let model: Hosted;
beforeAll(async () => {
  model = await hostModel({ maxSequenceLength: MAX_LEN, maxSequences: 2, maxStopSequences: 4 });
});
afterAll(() => model.close());

const [REF0, REF1] = REF.prompts;
const LONG_PROMPT = CHAPTER0.slice(0, 200); // ~45 tokens
const TOO_LONG_PROMPT = CHAPTER0.slice(0, 600); // > 64 tokens

/** [field named in the message, request]. */
const BAD: [string, GenerateRequest][] = [
  ["prompt", { prompt: "", maxTokens: 5 }],
  ["prompt", { prompt: 42 as unknown as string, maxTokens: 5 }],
  ["prompt", { prompt: [], maxTokens: 5 }],
  ["prompt", { prompt: [0, 99_999], maxTokens: 5 }], // a token id past the vocabulary
  ["prompt", { prompt: [0, -1], maxTokens: 5 }],
  ["prompt", { prompt: [0, 1.5], maxTokens: 5 }],
  ["maxTokens", { prompt: "And", maxTokens: 0 }],
  ["maxTokens", { prompt: "And", maxTokens: 2.5 }],
  ["maxTokens", { prompt: "And", maxTokens: MAX_LEN }],
  ["temperature", { prompt: "And", maxTokens: 5, temperature: -1 }],
  ["topP", { prompt: "And", maxTokens: 5, topP: 0 }],
  ["topP", { prompt: "And", maxTokens: 5, topP: 1.5 }],
  ["topK", { prompt: "And", maxTokens: 5, topK: 0 }],
  ["repetitionPenalty", { prompt: "And", maxTokens: 5, repetitionPenalty: 0 }],
  ["maxTokens", { prompt: LONG_PROMPT, maxTokens: 30 }], // prompt tokens + maxTokens > 64
  ["prompt", { prompt: TOO_LONG_PROMPT, maxTokens: 5 }], // the prompt alone does not fit
  ["stop", { prompt: "And", maxTokens: 5, stop: ["a", "b", "c", "d", "e"] }],
  ["stop[1]", { prompt: "And", maxTokens: 5, stop: ["a", ""] }],
  ["max_tokens", { prompt: "And", max_tokens: 2 } as GenerateRequest], // unknown fields are refused, not ignored
  ["temprature", { prompt: "And", maxTokens: 5, temprature: 0 } as GenerateRequest],
];

/** Runs `request` and expects VALIDATION naming `field` (as `field`) from both join() and the stream. */
async function expectRefused(field: string, request: GenerateRequest): Promise<void> {
  const job = model.inference.infer(request).spawn();
  const error = await rejection(job.join(), "VALIDATION");
  expect(error.field, error.message).toBe(field);
  const fromStream = await rejection(drain(job), "VALIDATION");
  expect(fromStream).toBe(error);
}

describe("validation", () => {
  it.each(BAD)("refuses a bad %s with VALIDATION naming it", async (field, request) => {
    await expectRefused(field, request);
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("an unknown field is refused with a hint at the field meant", async () => {
    const error = await rejection(model.inference.infer({ prompt: "And", max_tokens: 2 } as GenerateRequest).run(), "VALIDATION");
    expect(error.field).toBe("max_tokens");
    expect(error.message).toContain("did you mean maxTokens?");
  });

  it("the engine checks only the ids and the length of a tokenized request; field paths and class cross the worker boundary", async () => {
    const request = (promptIds: readonly number[], maxTokens: number | null = 2) => ({ promptIds, maxTokens, stop: [], sampling: { ...DEFAULT_SAMPLING } });
    const outside = await rejection(model.host.call("submit", request([0, 99_999])), "VALIDATION");
    expect({ field: outside.field, path: outside.path }).toEqual({ field: "prompt", path: ["prompt"] });
    expect(outside).toBeInstanceOf(LlmError);
    const long = await rejection(model.host.call("submit", request(REF0.ids, MAX_LEN)), "VALIDATION");
    expect(long.path).toEqual(["maxTokens"]);
    expect(long.detail).toBe(`${MAX_LEN} new tokens after a prompt of ${REF0.ids.length} tokens exceed the max sequence length ${MAX_LEN}`);
    // a request that was never validated and tokenized is refused as such, not run
    const raw = await rejection(model.host.call("submit", { prompt: "And" } as unknown as TokenizedRequest), "VALIDATION");
    expect(raw.path).toEqual(["request"]);
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("a prompt of token ids is used as given: the same tokens as the text they encode", async () => {
    const fromText = await model.inference.infer({ prompt: REF0.prompt, maxTokens: 8, temperature: 0 }).run();
    const fromIds = await model.inference.infer({ prompt: REF0.ids, maxTokens: 8, temperature: 0 }).run();
    expect(fromIds.map((o) => o.tokenId)).toEqual(fromText.map((o) => o.tokenId));
  });

  it("the oversized request's message gives the sizes", async () => {
    const promptTokens = (await model.host.call("encode", LONG_PROMPT)).length;
    expect(promptTokens).toBeLessThan(MAX_LEN);
    expect(promptTokens + 30).toBeGreaterThan(MAX_LEN);
    const error = await rejection(model.inference.infer({ prompt: LONG_PROMPT, maxTokens: 30 }).run(), "VALIDATION");
    expect(error.message).toContain(`${promptTokens} tokens`);
    expect(error.message).toContain(`${MAX_LEN}`);
    // the same prompt with room to spare is fine
    const ok = await model.inference.infer({ prompt: LONG_PROMPT, maxTokens: MAX_LEN - promptTokens, temperature: 0 }).run();
    expect(ok).toHaveLength(MAX_LEN - promptTokens);
  });

  it("without maxTokens the default shrinks to the room the prompt leaves, instead of refusing the request", async () => {
    const promptTokens = (await model.host.call("encode", LONG_PROMPT)).length;
    const outputs = await model.inference.infer({ prompt: LONG_PROMPT, temperature: 0 }).run();
    expect(outputs).toHaveLength(MAX_LEN - promptTokens);
    expect(outputs.at(-1)!.finishReason).toBe("length");
    const short = await model.inference.infer({ prompt: REF0.prompt, temperature: 0 }).run();
    expect(short).toHaveLength(MAX_LEN - REF0.ids.length);
    expect(short.slice(0, 40).map((o) => o.tokenId)).toEqual(REF0.greedy_ids);
    // a prompt that leaves no room is still refused, naming the prompt
    await expectRefused("prompt", { prompt: TOO_LONG_PROMPT });
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("failures beside a running generation leave it untouched", async () => {
    const good = model.inference.infer({ prompt: REF0.prompt, maxTokens: 40, temperature: 0 }).spawn();
    const it = good.stream[Symbol.asyncIterator]();
    const outputs: TokenOutput[] = [(await it.next()).value!];
    await Promise.all(BAD.map(([field, request]) => expectRefused(field, request)));
    for (let r = await it.next(); !r.done; r = await it.next()) outputs.push(r.value);
    await good.join();
    const { ids, text, finishReason } = summarize(outputs);
    expect(ids).toEqual(REF0.greedy_ids);
    expect(text).toBe(REF0.greedy_text);
    expect(finishReason).toBe("length");
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});

describe("a prompt far too long for the model", () => {
  it("is refused (VALIDATION naming prompt) before it is tokenized, while a generation beside it goes on untouched", async () => {
    const info = await model.host.call("info");
    expect(info.maxPromptBytes).toBeLessThan(100_000); // this tokenizer's longest token × 64 positions
    const huge = "And God said, Let there be light: and there was light. ".repeat(200_000); // 11 MB
    const good = model.inference.infer({ prompt: REF0.prompt, maxTokens: 40, temperature: 0 }).spawn();
    const it = good.stream[Symbol.asyncIterator]();
    const outputs: TokenOutput[] = [(await it.next()).value!];
    const t0 = performance.now();
    const error = await rejection(model.inference.infer({ prompt: huge, maxTokens: 5 }).run(), "VALIDATION");
    const refusedMs = performance.now() - t0;
    expect(error.field).toBe("prompt");
    // Tokenizing it (before the fix: inside the model worker, stalling every stream) took ~9 s on a CI-class core.
    expect(refusedMs).toBeLessThan(3000);
    for (let r = await it.next(); !r.done; r = await it.next()) outputs.push(r.value);
    await good.join();
    expect(summarize(outputs).ids).toEqual(REF0.greedy_ids);
    // the engine refuses ids too many for the max sequence length by their count, before reading them
    const ids = new Array<number>(100_000).fill(-1);
    const direct = await rejection(model.host.call("submit", { promptIds: ids, maxTokens: null, stop: [], sampling: { ...DEFAULT_SAMPLING } }), "VALIDATION");
    expect(direct.path).toEqual(["prompt"]);
    expect(direct.detail).toContain("100000 tokens leave no room");
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});

describe("overload", () => {
  it("with maxSequences 2, a third concurrent request gets OVERLOADED while the first two finish", async () => {
    const a = model.inference.infer({ prompt: REF0.prompt, maxTokens: 40, temperature: 0 }).spawn();
    const b = model.inference.infer({ prompt: REF1.prompt, maxTokens: 40, temperature: 0 }).spawn();
    const ia = a.stream[Symbol.asyncIterator]();
    const ib = b.stream[Symbol.asyncIterator]();
    const outA: TokenOutput[] = [(await ia.next()).value!];
    const outB: TokenOutput[] = [(await ib.next()).value!];
    expect(await model.host.call("activeSequences")).toBe(2);

    const c = model.inference.infer({ prompt: "Blessed are the", maxTokens: 10, temperature: 0 }).spawn();
    await rejection(c.join(), "OVERLOADED");
    await rejection(drain(c), "OVERLOADED");

    for (let r = await ia.next(); !r.done; r = await ia.next()) outA.push(r.value);
    for (let r = await ib.next(); !r.done; r = await ib.next()) outB.push(r.value);
    await Promise.all([a.join(), b.join()]);
    expect(summarize(outA).ids).toEqual(REF0.greedy_ids);
    expect(summarize(outB).ids).toEqual(REF1.greedy_ids);
    expect(await model.host.call("activeSequences")).toBe(0);

    // the slots are free again
    const again = await model.inference.infer({ prompt: "Blessed are the", maxTokens: 40, temperature: 0 }).run();
    expect(again.map((o) => o.tokenId)).toEqual(REF.prompts[4].greedy_ids);
  });
});

describe("requests that are not objects", () => {
  it("a null generate request is VALIDATION naming the request", async () => {
    await expectRefused("request", null as unknown as GenerateRequest);
  });

  it("a null, textless or non-object perplexity request is VALIDATION naming text, not HANDLER_FAILED", async () => {
    const scorer = await new InferenceBuilder().withModel(model.host).build(perplexityHandler);
    try {
      for (const request of [null, undefined, 42, {}, { text: 7 }]) {
        const error = await rejection(scorer.infer(request as unknown as { text: string }).run(), "VALIDATION");
        expect(error.field, error.message).toBe("text");
      }
    } finally {
      await scorer.close();
    }
  });
});
