/**
 * Seeded sampling through the runtime is reproducible, seed-dependent, and top-k 1 is greedy; the penalties see
 * what their references see (frequency / presence: generated tokens; repetition: the prompt too).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GenerateRequest } from "@actorlm/llm";
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

async function ids(request: GenerateRequest): Promise<number[]> {
  return summarize(await drain(model.inference.infer(request).spawn())).ids;
}

const SAMPLED = { prompt: "And God said, Let there be", maxTokens: 60, temperature: 0.8, topP: 0.9 } as const;

describe("seeded sampling", () => {
  it("the same seed gives the same tokens; another seed gives others", async () => {
    const a = await ids({ ...SAMPLED, seed: 1234 });
    const b = await ids({ ...SAMPLED, seed: 1234 });
    const c = await ids({ ...SAMPLED, seed: 98765 });
    expect(a).toHaveLength(60);
    expect(b).toEqual(a);
    expect(c).toHaveLength(60);
    expect(c).not.toEqual(a);
    // sampling actually happened: a temperature-0.8 run over 60 tokens is not the greedy one
    expect(a).not.toEqual(await ids({ prompt: SAMPLED.prompt, maxTokens: 60, temperature: 0 }));
  });

  it("top-k 1 is greedy whatever the temperature and seed", async () => {
    const ref = REF.prompts[0];
    expect(await ids({ prompt: ref.prompt, maxTokens: 40, temperature: 0.8, topK: 1, seed: 5 })).toEqual(ref.greedy_ids);
    expect(await ids({ prompt: ref.prompt, maxTokens: 40, temperature: 1.5, topK: 1, seed: 6 })).toEqual(ref.greedy_ids);
  });

  it("seeded runs with every penalty on are reproducible too", async () => {
    const request = { ...SAMPLED, repetitionPenalty: 1.2, frequencyPenalty: 0.5, presencePenalty: 0.5, seed: 77 };
    const a = await ids(request);
    expect(await ids(request)).toEqual(a);
    expect(await ids({ ...request, seed: 78 })).not.toEqual(a);
  });

  it("frequency / presence penalties leave prompt tokens alone; the repetition penalty does not", async () => {
    const ref = REF.prompts[4]; // "Blessed are the": its third greedy token, " the", is in the prompt
    expect(ref.prompt).toBe("Blessed are the");
    expect(ref.ids).toContain(ref.greedy_ids[2]);
    expect(ref.greedy_ids.slice(0, 2).some((id) => ref.ids.includes(id) || id === ref.greedy_ids[2])).toBe(false);
    const greedy = { prompt: ref.prompt, maxTokens: 3, temperature: 0 };
    expect(await ids({ ...greedy, frequencyPenalty: 2, presencePenalty: 2 })).toEqual(ref.greedy_ids.slice(0, 3));
    // a huge repetition penalty keeps greedy decoding off every prompt token and every earlier output token
    const repeated = await ids({ ...greedy, maxTokens: 20, repetitionPenalty: 1e6 });
    expect(repeated[2]).not.toBe(ref.greedy_ids[2]);
    repeated.forEach((id, i) => {
      expect(ref.ids, `token ${i}`).not.toContain(id);
      expect(repeated.slice(0, i), `token ${i}`).not.toContain(id);
    });
  });
});
