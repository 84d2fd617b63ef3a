/**
 * The official `openai` client against a running server with the embedded model: completions and chat, streaming
 * and not; greedy answers equal the library's generate(); usage, finish reasons, stop, seed, include_usage.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatTemplate } from "@actorlm/server";
import { REF } from "../generation/helpers.js";
import { MODEL, referenceModel, startServer, type Reference, type Running } from "./helpers.js";

let running: Running;
let lib: Reference;
let client: OpenAI;
beforeAll(async () => {
  [running, lib] = await Promise.all([startServer(), referenceModel()]);
  client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(() => Promise.all([running.close(), lib.close()]));

const [P0, P1] = REF.prompts;
const CHAT = [{ role: "user" as const, content: "Who made the heaven and the earth?" }];
const chatPrompt = ChatTemplate.plain().render(CHAT);

describe("completions", () => {
  it("greedy, not streamed: the text, finish reason and usage of generate()", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 24 });
    const res = await client.completions.create({ model: MODEL, prompt: P0.prompt, max_tokens: 24, temperature: 0 });
    expect(res.object).toBe("text_completion");
    expect(res.model).toBe(MODEL);
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0].text).toBe(ref.text);
    expect(res.choices[0].finish_reason).toBe("length");
    expect(res.usage).toEqual({ prompt_tokens: P0.ids.length, completion_tokens: 24, total_tokens: P0.ids.length + 24 });
  });

  it("greedy, streamed: chunks join to the same text; finish_reason null until the last; usage chunk; [DONE]", async () => {
    const ref = await lib.of({ prompt: P1.prompt, maxTokens: 20 });
    const stream = await client.completions.create({
      model: MODEL, prompt: P1.prompt, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = "";
    const finishes: (string | null)[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.usage) {
        expect(chunk.choices).toEqual([]);
        usage = chunk.usage;
        continue;
      }
      text += chunk.choices[0].text;
      finishes.push(chunk.choices[0].finish_reason);
    }
    expect(text).toBe(ref.text);
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(finishes.length).toBeGreaterThan(5);
    expect(finishes.at(-1)).toBe("length");
    expect(usage).toEqual({ prompt_tokens: P1.ids.length, completion_tokens: 20, total_tokens: P1.ids.length + 20 });
  });

  it("a stop string ends the text right before it, finish_reason stop", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 40 });
    const stop = ref.text.slice(20, 26);
    const res = await client.completions.create({ model: MODEL, prompt: P0.prompt, max_tokens: 40, temperature: 0, stop });
    expect(res.choices[0].text).toBe(ref.text.slice(0, ref.text.indexOf(stop)));
    expect(res.choices[0].finish_reason).toBe("stop");
  });

  it("seed makes a sampled completion reproducible and equal to the library's", async () => {
    const request = { prompt: "And God said, Let there be", maxTokens: 16, temperature: 0.9, topP: 0.95, seed: 7 };
    const ref = await lib.of(request);
    const ask = () => client.completions.create({ model: MODEL, prompt: request.prompt, max_tokens: 16, temperature: 0.9, top_p: 0.95, seed: 7 });
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.choices[0].text).toBe(ref.text);
    expect(b.choices[0].text).toBe(ref.text);
  });

  it("n = 17 is refused by name (422, param n)", async () => {
    const error = await client.completions.create({ model: MODEL, prompt: "x", n: 17 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const api = error as InstanceType<typeof OpenAI.APIError>;
    expect(api.status).toBe(422);
    expect(api.param).toBe("n");
    expect(api.code).toBe("VALIDATION");
  });

  it("a prompt of token ids (bare, or one list in a list) gives the completion of the text they encode", async () => {
    const ref = await lib.of({ prompt: P0.prompt, maxTokens: 20 });
    expect(P0.ids[0]).toBe(0); // the text prompt's ids start with bos: given as ids, they are used as they are
    for (const prompt of [P0.ids, [P0.ids]]) {
      const res = await client.completions.create({ model: MODEL, prompt, max_tokens: 20, temperature: 0 });
      expect(res.choices[0].text).toBe(ref.text);
      expect(res.usage?.prompt_tokens).toBe(P0.ids.length);
    }
  });

  it("a token id outside the vocabulary is refused naming prompt", async () => {
    const error = (await client.completions.create({ model: MODEL, prompt: [...P0.ids, 4096], max_tokens: 2 }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(422);
    expect(error.param).toBe("prompt");
    expect(error.message).toContain("4096");
  });

  it("with one model served, any model name reaches it (TGI's rule): \"tgi\", another server's name", async () => {
    for (const model of ["tgi", "gpt-4"]) {
      const res = await client.completions.create({ model, prompt: P0.prompt, max_tokens: 2, temperature: 0 });
      expect(res.model).toBe(MODEL);
      expect(res.choices[0].text.length).toBeGreaterThan(0);
    }
  });
});

describe("chat completions", () => {
  it("greedy, not streamed: the plain template's prompt through generate()", async () => {
    expect(chatPrompt).toBe("User: Who made the heaven and the earth?\n\nAssistant:");
    const ref = await lib.of({ prompt: chatPrompt, maxTokens: 16 });
    const res = await client.chat.completions.create({ model: MODEL, messages: CHAT, max_tokens: 16, temperature: 0 });
    expect(res.object).toBe("chat.completion");
    expect(res.system_fingerprint).toMatch(/^actorlm-\d+\.\d+\.\d+/); // @huggingface/inference 2.x requires it
    expect(res.choices[0].message).toMatchObject({ role: "assistant", content: ref.text });
    expect(res.choices[0].finish_reason).toBe(ref.finishReason);
    expect(res.usage?.completion_tokens).toBe(ref.tokenIds.length);
  });

  it("greedy, streamed: a role delta first, content deltas, then finish_reason; max_completion_tokens honoured", async () => {
    const ref = await lib.of({ prompt: chatPrompt, maxTokens: 12 });
    const stream = await client.chat.completions.create({ model: MODEL, messages: CHAT, max_completion_tokens: 12, temperature: 0, stream: true });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].object).toBe("chat.completion.chunk");
    expect(chunks.every((c) => c.system_fingerprint === chunks[0].system_fingerprint && c.system_fingerprint !== undefined)).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe(ref.text);
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe("length");
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it("text content parts are joined like a string", async () => {
    const ref = await lib.of({ prompt: chatPrompt, maxTokens: 8 });
    const res = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [{ type: "text", text: "Who made the heaven " }, { type: "text", text: "and the earth?" }] }],
      max_tokens: 8,
      temperature: 0,
    });
    expect(res.choices[0].message.content).toBe(ref.text);
  });

  it("GET /v1/models lists the served model", async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    expect(models.map((m) => [m.id, m.object, m.owned_by])).toEqual([[MODEL, "model", "actorlm"]]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
  });
});
