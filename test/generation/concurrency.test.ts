/**
 * Eight greedy generations running at once through one model worker (interleaved decode steps, one KV slot
 * each) give exactly what the same requests give one at a time, and every slot is freed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GenerateRequest, TokenOutput } from "@actorlm/llm";
import { drain, hostModel, REF, summarize, type Hosted } from "./helpers.js";

let model: Hosted;
beforeAll(async () => {
  model = await hostModel();
});
afterAll(() => model.close());

const P = REF.prompts.map((p) => p.prompt);
// different prompts, some repeated, different lengths (the last ones finish first)
const REQUESTS: GenerateRequest[] = [
  { prompt: P[0], maxTokens: 40, temperature: 0 },
  { prompt: P[1], maxTokens: 40, temperature: 0 },
  { prompt: P[2], maxTokens: 40, temperature: 0 },
  { prompt: P[0], maxTokens: 40, temperature: 0 },
  { prompt: P[3], maxTokens: 30, temperature: 0 },
  { prompt: P[4], maxTokens: 25, temperature: 0 },
  { prompt: P[1], maxTokens: 20, temperature: 0 },
  { prompt: "Psalms 150\n\n", maxTokens: 35, temperature: 0 },
];

type Result = ReturnType<typeof summarize>;

async function one(request: GenerateRequest): Promise<Result> {
  return summarize(await drain(model.inference.infer(request).spawn()));
}

describe("concurrent generations share one worker without sharing state", () => {
  const sequential: Result[] = [];
  beforeAll(async () => {
    for (const request of REQUESTS) sequential.push(await one(request));
  });

  it("one at a time (the baseline) matches the reference greedy runs", () => {
    expect(sequential[0].ids).toEqual(REF.prompts[0].greedy_ids);
    expect(sequential[3].ids).toEqual(REF.prompts[0].greedy_ids);
    expect(sequential[2].text).toBe(REF.prompts[2].greedy_text);
  });

  it("8 at once, read round-robin so the decode steps interleave, equal the one-at-a-time runs", async () => {
    const jobs = REQUESTS.map((request) => model.inference.infer(request).spawn());
    const iterators = jobs.map((job) => job.stream[Symbol.asyncIterator]());
    const outputs: TokenOutput[][] = jobs.map(() => []);
    let maxLive = 0;
    for (let open = jobs.length; open > 0; ) {
      open = 0;
      for (let j = 0; j < jobs.length; j++) {
        const r = await iterators[j].next();
        if (r.done) continue;
        outputs[j].push(r.value);
        open++;
      }
      if (open > 0) maxLive = Math.max(maxLive, await model.host.call("activeSequences"));
    }
    await Promise.all(jobs.map((job) => job.join()));
    expect(maxLive).toBe(REQUESTS.length); // all eight slots were live at once
    expect(outputs.map(summarize)).toEqual(sequential);
    expect(await model.host.call("activeSequences")).toBe(0);
  });

  it("8 at once, each run() to completion independently, equal the one-at-a-time runs", async () => {
    const concurrent = await Promise.all(REQUESTS.map((r) => model.inference.infer(r).run().then(summarize)));
    expect(concurrent).toEqual(sequential);
    expect(await model.host.call("activeSequences")).toBe(0);
  });
});
