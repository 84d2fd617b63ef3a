/**
 * The TGI routes (/generate, /generate_stream, POST /, /info, /health) over real HTTP, and @huggingface/inference's
 * text-generation client (which speaks to an endpoint's /v1/completions): greedy answers equal generate().
 */
import { InferenceClient } from "@huggingface/inference";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REF } from "../generation/helpers.js";
import { createServer } from "@actorlm/server";
import { EMBEDDED_MODEL_DIR, MODEL, post, postStream, referenceModel, startServer, type Reference, type Running } from "./helpers.js";

let running: Running;
let lib: Reference;
beforeAll(async () => {
  [running, lib] = await Promise.all([startServer(), referenceModel()]);
});
afterAll(() => Promise.all([running.close(), lib.close()]));

const [P0, P1] = REF.prompts;

describe("@huggingface/inference text generation", () => {
  it("textGeneration: greedy text equals generate()", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 18 });
    const client = new InferenceClient(undefined, { endpointUrl: running.url });
    const out = await client.textGeneration({ model: MODEL, inputs: P0.prompt, parameters: { max_new_tokens: 18, temperature: 0 } });
    expect(out.generated_text).toBe(ref.text);
  });

  it("textGeneration without a model (4.x then sends the endpoint URL as the model): served by the one model", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 6 });
    const client = new InferenceClient(undefined, { endpointUrl: running.url });
    const out = await client.textGeneration({ inputs: P0.prompt, parameters: { max_new_tokens: 6, temperature: 0 } });
    expect(out.generated_text).toBe(ref.text);
  });

  it("textGenerationStream: the streamed pieces join to the same text", async () => {
    const ref = await lib.of({ prompt: P1.prompt, maxTokens: 14 });
    const client = new InferenceClient(undefined, { endpointUrl: running.url });
    let text = "";
    for await (const chunk of client.textGenerationStream({ model: MODEL, inputs: P1.prompt, parameters: { max_new_tokens: 14, temperature: 0 } })) {
      text += (chunk as unknown as { choices: { text: string }[] }).choices[0].text;
    }
    expect(text).toBe(ref.text);
  });
});

describe("TGI routes", () => {
  it("POST /generate is greedy by default (do_sample false) and reports details per token", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 10 });
    const res = await post(`${running.url}/generate`, { inputs: P0.prompt, parameters: { max_new_tokens: 10, details: true } });
    expect(res.status).toBe(200);
    expect(res.body.generated_text).toBe(ref.text);
    expect(res.body.details).toMatchObject({ finish_reason: "length", generated_tokens: 10, input_length: P0.ids.length });
    expect(res.body.details.tokens.map((t: { id: number }) => t.id)).toEqual(ref.tokenIds);
  });

  it("return_full_text prepends the inputs; eos ends with eos_token; a stop string with stop_sequence", async () => {
    const full = await post(`${running.url}/generate`, { inputs: "Jesus wept.", parameters: { max_new_tokens: 3, return_full_text: true } });
    expect(full.body.generated_text.startsWith("Jesus wept.")).toBe(true);
    const psalm = await lib.of({ prompt: "Psalms 150\n\n", maxTokens: 200 });
    expect(psalm.finishReason).toBe("stop");
    const eos = await post(`${running.url}/generate`, { inputs: "Psalms 150\n\n", parameters: { max_new_tokens: 200, details: true } });
    expect(eos.body.generated_text).toBe(psalm.text);
    expect(eos.body.details.finish_reason).toBe("eos_token");
    expect(eos.body.details.tokens.at(-1).special).toBe(true);
    const stop = await post(`${running.url}/generate`, { inputs: "Psalms 150\n\n", parameters: { max_new_tokens: 200, stop: ["LORD"], details: true } });
    expect(stop.body.generated_text).toBe(psalm.text.slice(0, psalm.text.indexOf("LORD")));
    expect(stop.body.details.finish_reason).toBe("stop_sequence");
  });

  it("POST /generate_stream: one event per token (1-based index), the last carrying generated_text and details", async () => {
    const ref = await lib.of({ prompt: P1.prompt, maxTokens: 8 });
    const { status, events } = await postStream(`${running.url}/generate_stream`, { inputs: P1.prompt, parameters: { max_new_tokens: 8 } });
    expect(status).toBe(200);
    const parsed = events.map((e) => JSON.parse(e) as { index: number; token: { id: number; text: string }; generated_text: string | null; details: { finish_reason: string } | null });
    expect(parsed.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parsed.map((e) => e.token.id)).toEqual(ref.tokenIds);
    expect(parsed.slice(0, -1).every((e) => e.generated_text === null && e.details === null)).toBe(true);
    expect(parsed.at(-1)!.generated_text).toBe(ref.text);
    expect(parsed.at(-1)!.details!.finish_reason).toBe("length");
  });

  it('"model": "tgi" (what TGI documents for OpenAI clients) and any other name reach the one model served', async () => {
    for (const model of ["tgi", "some/other-model"]) {
      const res = await post(`${running.url}/generate`, { model, inputs: P0.prompt, parameters: { max_new_tokens: 2 } });
      expect(res.status, model).toBe(200);
    }
  });

  it("POST / answers like /generate, or like /generate_stream with stream: true", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 4 });
    const plain = await post(`${running.url}/`, { inputs: P0.prompt, parameters: { max_new_tokens: 4 } });
    expect(plain.body).toEqual({ generated_text: ref.text });
    const streamed = await postStream(`${running.url}/`, { inputs: P0.prompt, stream: true, parameters: { max_new_tokens: 4 } });
    expect(streamed.events).toHaveLength(4);
  });

  it("sampling parameters switch sampling on; a seed reproduces the library's run", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 12, temperature: 0.8, topK: 40, seed: 3 });
    const res = await post(`${running.url}/generate`, { inputs: P0.prompt, parameters: { max_new_tokens: 12, temperature: 0.8, top_k: 40, seed: 3, details: true } });
    expect(res.body.generated_text).toBe(ref.text);
    expect(res.body.details.seed).toBe(3);
  });

  it("GET /info describes the model; GET /health is 200 once it is ready", async () => {
    const info = (await (await fetch(`${running.url}/info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ model_id: MODEL, max_total_tokens: 1024, max_input_tokens: 1023, max_stop_sequences: 4, router: "actorlm", model_device_type: "cpu" });
    expect(typeof info.version).toBe("string");
    expect(info.model_dtype).toBe("float32");
    const health = await fetch(`${running.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", models: { [MODEL]: "ready" } });
  });
});

describe("before the models are loaded", () => {
  it("the server already listens: /health is 503 and requests get 503 NOT_READY until the model is ready", async () => {
    const server = createServer({ models: [EMBEDDED_MODEL_DIR], port: 0 });
    try {
      const url = await server.listen();
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ error_type: "unhealthy", models: { [MODEL]: "uninitialized" } });
      const early = await post(`${url}/generate`, { inputs: "In the beginning", parameters: { max_new_tokens: 2 } });
      expect(early.status).toBe(503);
      expect(early.body).toMatchObject({ code: "NOT_READY", error_type: "unhealthy" });
      await server.loadModels();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect((await post(`${url}/generate`, { inputs: "In the beginning", parameters: { max_new_tokens: 2 } })).status).toBe(200);
    } finally {
      await server.close(0);
    }
  });
});
