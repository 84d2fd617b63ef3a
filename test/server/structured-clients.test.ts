/**
 * Structured output, tools, logprobs and n through the server with the clients users run: the official `openai`
 * client's `chat.completions.parse` with a zod schema, json_object, tools (required, named, streamed as deltas equal
 * to the whole answer), logprobs against the library's, n samples and usage, completions logprobs and best_of; TGI's
 * grammar, details and top_n_tokens over plain HTTP.
 */
import OpenAI from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { validates } from "../grammar/validate.js";
import { SCHEMAS } from "../grammar/schemas.js";
import { MODEL, referenceModel, startServer, type Reference, type Running } from "./helpers.js";

let running: Running;
let lib: Reference;
let client: OpenAI;
beforeAll(async () => {
  [running, lib] = await Promise.all([startServer(), referenceModel()]);
  client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(() => Promise.all([running.close(), lib.close()]));

const ASK = [{ role: "user" as const, content: "Name a book of the Bible and a chapter." }];

describe("structured output", () => {
  it("chat.completions.parse with a zod schema: the parsed object, greedy and sampled", async () => {
    const Verse = z.object({ book: z.enum(["Genesis", "Exodus", "John", "Ruth"]), chapter: z.number().int().min(1).max(50), holy: z.boolean() });
    for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 4 }]) {
      const res = await client.chat.completions.parse({ model: MODEL, messages: ASK, max_tokens: 60, ...sampling, response_format: zodResponseFormat(Verse, "verse") });
      const message = res.choices[0].message;
      expect(res.choices[0].finish_reason).toBe("stop");
      expect(Verse.parse(message.parsed)).toEqual(message.parsed);
    }
  });

  it("every one of the 53 schemas as response_format json_schema: each answer parses and validates", async () => {
    const answers = await Promise.all(
      SCHEMAS.map(async ({ name, schema }, i) => {
        const res = await client.chat.completions.create({
          model: MODEL, messages: ASK, max_tokens: 160, temperature: i % 2 === 0 ? 0 : 1, seed: i,
          response_format: { type: "json_schema", json_schema: { name: `s${i}`, strict: true, schema } },
        });
        return { name, schema, text: res.choices[0].message.content ?? "", finish: res.choices[0].finish_reason };
      }),
    );
    for (const { name, schema, text, finish } of answers) {
      expect(finish, `${name}: ${text}`).toBe("stop");
      expect(validates(text, schema), `${name}: ${text}`).toEqual({ ok: true });
    }
  }, 240_000);

  it("json_object: a JSON object", async () => {
    const res = await client.chat.completions.create({ model: MODEL, messages: ASK, max_tokens: 120, temperature: 0, response_format: { type: "json_object" } });
    const text = res.choices[0].message.content ?? "";
    expect(text.startsWith("{")).toBe(true);
    if (res.choices[0].finish_reason === "stop") expect(typeof JSON.parse(text)).toBe("object");
  });
});

const TOOLS: OpenAI.ChatCompletionFunctionTool[] = [
  { type: "function", function: { name: "find_verse", description: "Look a verse up", parameters: { type: "object", properties: { book: { type: "string", enum: ["John", "Ruth", "Acts"] }, chapter: { type: "integer", minimum: 1, maximum: 30 } }, required: ["book", "chapter"], additionalProperties: false } } },
  { type: "function", function: { name: "amen", parameters: { type: "object", properties: {}, additionalProperties: false } } },
];
const schemaOf = (name: string) => TOOLS.find((t) => t.function.name === name)!.function.parameters as Record<string, unknown>;

describe("tools", () => {
  it("tool_choice required and a named function: tool_calls whose arguments validate, finish_reason tool_calls", async () => {
    for (const tool_choice of ["required", { type: "function", function: { name: "amen" } }] as const) {
      const res = await client.chat.completions.create({ model: MODEL, messages: ASK, max_tokens: 80, temperature: 0, tools: TOOLS, tool_choice, parallel_tool_calls: false });
      const { message, finish_reason } = res.choices[0];
      expect(finish_reason).toBe("tool_calls");
      expect(message.tool_calls).toHaveLength(1);
      const call = message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
      expect(call.id).toMatch(/^call_/);
      if (typeof tool_choice === "object") expect(call.function.name).toBe("amen");
      expect(validates(call.function.arguments, schemaOf(call.function.name))).toEqual({ ok: true });
    }
  });

  it("streamed: the deltas (index, id, name, then arguments) join to the non-streamed calls", async () => {
    const request = { model: MODEL, messages: ASK, max_tokens: 80, temperature: 0, tools: TOOLS, tool_choice: "required" as const, parallel_tool_calls: false };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const calls: { id?: string; name: string; arguments: string }[] = [];
    let content = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      content += choice.delta.content ?? "";
      for (const d of choice.delta.tool_calls ?? []) {
        const call = (calls[d.index] ??= { name: "", arguments: "" });
        if (d.id !== undefined) call.id = d.id;
        call.name += d.function?.name ?? "";
        call.arguments += d.function?.arguments ?? "";
      }
      finish = choice.finish_reason ?? finish;
    }
    expect(finish).toBe("tool_calls");
    expect(content).toBe(whole.choices[0].message.content ?? "");
    const expected = (whole.choices[0].message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[]).map((c) => ({ name: c.function.name, arguments: c.function.arguments }));
    expect(calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual(expected);
    expect(calls.every((c) => c.id?.startsWith("call_"))).toBe(true);
  });

  it("a history with the assistant's tool_calls and the tool's answer is accepted", async () => {
    const res = await client.chat.completions.create({
      model: MODEL,
      max_tokens: 8,
      temperature: 0,
      tools: TOOLS,
      messages: [
        ...ASK,
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "find_verse", arguments: '{"book": "John", "chapter": 3}' } }] },
        { role: "tool", tool_call_id: "call_1", content: "For God so loved the world" },
      ],
    });
    expect(res.choices).toHaveLength(1);
  });
});

describe("logprobs and n", () => {
  it("chat logprobs equal the library's, with top_logprobs", async () => {
    const ref = await lib.of({ prompt: "User: Who made the heaven and the earth?\n\nAssistant:", maxTokens: 6, logprobs: true });
    const res = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Who made the heaven and the earth?" }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = res.choices[0].logprobs!.content!;
    expect(content.map((c) => c.token).join("")).toBe(res.choices[0].message.content);
    content.forEach((c, i) => {
      expect(c.logprob).toBeCloseTo(ref.logprobs![i], 6);
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.top_logprobs[0].logprob).toBeGreaterThanOrEqual(c.top_logprobs[1].logprob);
      expect(c.bytes).toEqual([...Buffer.from(c.token, "utf8")]);
    });
  });

  it("an answer ended by eos: its logprobs tokens join to its text (the eos token is not among them)", async () => {
    const res = await client.chat.completions.create({ model: MODEL, messages: ASK, max_tokens: 40, temperature: 0, logprobs: true, response_format: { type: "json_schema", json_schema: { name: "yn", schema: { enum: ["yea", "nay"] } } } });
    expect(res.choices[0].finish_reason).toBe("stop");
    expect(res.choices[0].logprobs!.content!.map((c) => c.token).join("")).toBe(res.choices[0].message.content);
  });

  it("streamed chat logprobs: one entry per token, equal to the non-streamed ones", async () => {
    const request = { model: MODEL, messages: ASK, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const entries: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) entries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(entries).toEqual(whole.choices[0].logprobs!.content);
  });

  it("n: that many choices with their index, usage counting every completion; streamed chunks carry index", async () => {
    const res = await client.chat.completions.create({ model: MODEL, messages: ASK, max_tokens: 10, temperature: 1, seed: 3, n: 3 });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(res.usage!.completion_tokens).toBe(30);
    const stream = await client.chat.completions.create({ model: MODEL, messages: ASK, max_tokens: 10, temperature: 1, seed: 3, n: 3, stream: true });
    const texts = ["", "", ""];
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? "";
    expect(texts).toEqual(res.choices.map((c) => c.message.content));
  });

  it("completions: logprobs (tokens, token_logprobs, top_logprobs, text_offset) and best_of", async () => {
    const res = await client.completions.create({ model: MODEL, prompt: "In the beginning", max_tokens: 5, temperature: 0, logprobs: 2 });
    const lp = res.choices[0].logprobs!;
    expect(lp.tokens!.join("")).toBe(res.choices[0].text);
    expect(lp.token_logprobs).toHaveLength(5);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);
    const best = await client.completions.create({ model: MODEL, prompt: "In the beginning", max_tokens: 5, temperature: 1, seed: 9, n: 2, best_of: 4 });
    expect(best.choices).toHaveLength(2);
    expect(best.usage!.completion_tokens).toBe(20); // every sample generated counts
  });
});

describe("TGI", () => {
  interface TgiAnswer {
    generated_text: string;
    details: { tokens: { logprob: number }[]; top_tokens: unknown[][] };
  }
  const post = async (body: unknown) => (await fetch(`${running.url}/generate`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json() as Promise<TgiAnswer>;
  it("grammar json and regex; details with token logprobs and top_tokens", async () => {
    const schema = { type: "object", properties: { n: { type: "integer", minimum: 1, maximum: 9 } }, required: ["n"], additionalProperties: false };
    const json = await post({ inputs: "And the LORD said", parameters: { max_new_tokens: 20, grammar: { type: "json", value: schema } } });
    expect(validates(json.generated_text, schema)).toEqual({ ok: true });
    const regex = await post({ inputs: "And the LORD said", parameters: { max_new_tokens: 20, grammar: { type: "regex", value: "(yea|nay)" }, details: true, top_n_tokens: 2 } });
    expect(["yea", "nay"]).toContain(regex.generated_text);
    const { tokens, top_tokens } = regex.details;
    expect(tokens.every((t) => typeof t.logprob === "number" && t.logprob <= 0)).toBe(true);
    expect(top_tokens).toHaveLength(tokens.length);
    expect(top_tokens[0]).toHaveLength(2);
  });
});
