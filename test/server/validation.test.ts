/**
 * Bad requests over real HTTP: every validation rule answers its status with the field named (OpenAI `param`,
 * TGI `param` beside `error` / `error_type`); malformed JSON, invalid UTF-8, prototype keys, wrong types, huge
 * bodies, unknown models (a path is only ever an unknown model name) and API keys (missing, wrong, right).
 */
import { InferenceError } from "@actorlm/runtime";
import { ApiError } from "@actorlm/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDED_MODEL_DIR, MODEL, metric, post, startServer, type Running } from "./helpers.js";

const KEY = "s3cret-key";
const AUTH = { authorization: `Bearer ${KEY}` };
let running: Running;
beforeAll(async () => {
  // two models: an unknown name is only refused when several are served (one model answers any name, as TGI)
  running = await startServer({ models: [EMBEDDED_MODEL_DIR, { name: "second", dir: EMBEDDED_MODEL_DIR }], apiKey: KEY, bodyLimit: 64 * 1024, maxPromptChars: 2000 });
});
afterAll(() => running.close());

type Case = [name: string, path: string, body: unknown, status: number, param: string];

const completion = (extra: Record<string, unknown>) => ({ prompt: "In the beginning", max_tokens: 2, ...extra });
const chat = (extra: Record<string, unknown>) => ({ messages: [{ role: "user", content: "Hi" }], max_tokens: 2, ...extra });
const tgi = (parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ inputs: "In the beginning", parameters: { max_new_tokens: 2, ...parameters }, ...extra });

const CASES: Case[] = [
  ["max_tokens 0", "/v1/completions", completion({ max_tokens: 0 }), 422, "max_tokens"],
  ["max_tokens a string", "/v1/completions", completion({ max_tokens: "5" }), 422, "max_tokens"],
  ["max_tokens fractional", "/v1/completions", completion({ max_tokens: 1.5 }), 422, "max_tokens"],
  ["prompt + max_tokens over the max sequence length", "/v1/completions", completion({ max_tokens: 1023 }), 422, "max_tokens"],
  ["max_tokens ≥ max sequence length", "/v1/completions", completion({ max_tokens: 5000 }), 422, "max_tokens"],
  ["empty prompt", "/v1/completions", completion({ prompt: "" }), 422, "prompt"],
  ["no prompt", "/v1/completions", { max_tokens: 2 }, 422, "prompt"],
  ["prompt a number", "/v1/completions", completion({ prompt: 123 }), 422, "prompt"],
  ["two prompts", "/v1/completions", completion({ prompt: ["a", "b"] }), 422, "prompt"],
  ["two token-id prompts", "/v1/completions", completion({ prompt: [[0, 1144], [0, 260]] }), 422, "prompt"],
  ["a prompt mixing text and ids", "/v1/completions", completion({ prompt: [1144, "a"] }), 422, "prompt"],
  ["a token id past the vocabulary", "/v1/completions", completion({ prompt: [0, 1144, 4096] }), 422, "prompt"],
  ["a negative token id", "/v1/completions", completion({ prompt: [[-1, 1144]] }), 422, "prompt"],
  ["a fractional token id", "/v1/completions", completion({ prompt: [0, 1.5] }), 422, "prompt"],
  ["an empty prompt list", "/v1/completions", completion({ prompt: [] }), 422, "prompt"],
  ["an empty prompt in a list", "/v1/completions", completion({ prompt: [""] }), 422, "prompt[0]"],
  ["prompt over the character limit", "/v1/completions", completion({ prompt: "x".repeat(2001) }), 422, "prompt"],
  ["prompt over the token limit", "/v1/completions", completion({ prompt: "\u{1F600}".repeat(600) }), 422, "prompt"],
  ["temperature < 0", "/v1/completions", completion({ temperature: -0.5 }), 422, "temperature"],
  ["top_p 0", "/v1/completions", completion({ top_p: 0 }), 422, "top_p"],
  ["top_p > 1", "/v1/completions", completion({ top_p: 1.5 }), 422, "top_p"],
  ["top_k 0", "/v1/completions", completion({ top_k: 0 }), 422, "top_k"],
  ["min_p 1", "/v1/completions", completion({ min_p: 1 }), 422, "min_p"],
  ["repetition_penalty 0", "/v1/completions", completion({ repetition_penalty: 0 }), 422, "repetition_penalty"],
  ["frequency_penalty > 2", "/v1/completions", completion({ frequency_penalty: 2.5 }), 422, "frequency_penalty"],
  ["presence_penalty < -2", "/v1/completions", completion({ presence_penalty: -3 }), 422, "presence_penalty"],
  ["seed fractional", "/v1/completions", completion({ seed: 1.5 }), 422, "seed"],
  ["five stop strings", "/v1/completions", completion({ stop: ["a", "b", "c", "d", "e"] }), 422, "stop"],
  ["an empty stop string", "/v1/completions", completion({ stop: ["a", ""] }), 422, "stop[1]"],
  ["stop a number", "/v1/completions", completion({ stop: 5 }), 422, "stop"],
  ["n 17", "/v1/completions", completion({ n: 17 }), 422, "n"],
  ["best_of below n", "/v1/completions", completion({ n: 3, best_of: 2 }), 422, "best_of"],
  ["best_of above n while streaming", "/v1/completions", completion({ best_of: 2, stream: true }), 422, "best_of"],
  ["echo", "/v1/completions", completion({ echo: true }), 422, "echo"],
  ["logprobs 21", "/v1/completions", completion({ logprobs: 21 }), 422, "logprobs"],
  ["suffix", "/v1/completions", completion({ suffix: "amen" }), 422, "suffix"],
  ["logit_bias", "/v1/completions", completion({ logit_bias: { "5": 10 } }), 422, "logit_bias"],
  ["an unknown field", "/v1/completions", completion({ foo: 1 }), 422, "foo"],
  ["TGI's max_new_tokens on OpenAI", "/v1/completions", completion({ max_new_tokens: 3 }), 422, "max_new_tokens"],
  ["stream a string", "/v1/completions", completion({ stream: "yes" }), 422, "stream"],
  ["include_usage a string", "/v1/completions", completion({ stream: true, stream_options: { include_usage: "yes" } }), 422, "stream_options.include_usage"],
  ["model a number", "/v1/completions", completion({ model: 5 }), 422, "model"],
  ["an unknown model", "/v1/completions", completion({ model: "gpt-4" }), 404, "model"],
  ["a relative path as the model", "/v1/completions", completion({ model: "../models/kjv-llama" }), 404, "model"],
  ["an absolute path as the model", "/v1/completions", completion({ model: EMBEDDED_MODEL_DIR }), 404, "model"],
  ["a JSON array body", "/v1/completions", [], 422, "body"],
  ["a JSON null body", "/v1/completions", "null", 422, "body"],
  ["malformed JSON", "/v1/completions", '{"prompt": "x",', 400, "body"],
  ["a __proto__ key", "/v1/completions", '{"prompt": "x", "__proto__": {"admin": true}}', 400, "__proto__"],
  ["a nested __proto__ key", "/v1/chat/completions", '{"messages": [{"role": "user", "content": "x", "__proto__": {}}]}', 400, "messages[0].__proto__"],
  ["a constructor key", "/generate", '{"inputs": "x", "parameters": {"constructor": {"prototype": {}}}}', 400, "parameters.constructor"],
  ["no messages", "/v1/chat/completions", { max_tokens: 2 }, 422, "messages"],
  ["empty messages", "/v1/chat/completions", chat({ messages: [] }), 422, "messages"],
  ["a function role", "/v1/chat/completions", chat({ messages: [{ role: "function", content: "x" }] }), 422, "messages[0].role"],
  ["content a number", "/v1/chat/completions", chat({ messages: [{ role: "user", content: 5 }] }), 422, "messages[0].content"],
  ["an image part", "/v1/chat/completions", chat({ messages: [{ role: "user", content: [{ type: "image_url", text: "x" }] }] }), 422, "messages[0].content[0].type"],
  ["a tool with a bad name", "/v1/chat/completions", chat({ tools: [{ type: "function", function: { name: "x y" } }] }), 422, "tools[0].function.name"],
  ["a tool whose parameters use an unsupported keyword", "/v1/chat/completions", chat({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", not: {} } } }] }), 422, "tools[0].function.parameters.not"],
  ["tool_choice naming no tool", "/v1/chat/completions", chat({ tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }), 422, "tool_choice.function.name"],
  ["max_tokens and max_completion_tokens differ", "/v1/chat/completions", chat({ max_tokens: 2, max_completion_tokens: 3 }), 422, "max_completion_tokens"],
  ["top_logprobs without logprobs", "/v1/chat/completions", chat({ top_logprobs: 2 }), 422, "top_logprobs"],
  ["top_logprobs 21", "/v1/chat/completions", chat({ logprobs: true, top_logprobs: 21 }), 422, "top_logprobs"],
  ["an invalid type inside a json_schema", "/v1/chat/completions", chat({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { age: { type: "intger" } } } } } }), 422, "response_format.json_schema.schema.properties.age.type"],
  ["an unsupported keyword inside a json_schema", "/v1/chat/completions", chat({ response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "array", uniqueItems: true } } } }), 422, "response_format.json_schema.schema.uniqueItems"],
  ["an unknown response_format", "/v1/chat/completions", chat({ response_format: { type: "yaml" } }), 422, "response_format.type"],
  ["messages over the character limit", "/v1/chat/completions", chat({ messages: [{ role: "user", content: "x".repeat(1500) }, { role: "user", content: "y".repeat(600) }] }), 422, "messages"],
  ["chat top_p > 1", "/v1/chat/completions", chat({ top_p: 2 }), 422, "top_p"],
  ["empty inputs", "/generate", { inputs: "" }, 422, "inputs"],
  ["no inputs", "/generate", { parameters: {} }, 422, "inputs"],
  ["max_new_tokens 0", "/generate", tgi({ max_new_tokens: 0 }), 422, "parameters.max_new_tokens"],
  ["max_new_tokens over the max sequence length", "/generate_stream", tgi({ max_new_tokens: 1021 }), 422, "parameters.max_new_tokens"],
  ["OpenAI's max_tokens on TGI", "/generate", tgi({ max_tokens: 3 }), 422, "parameters.max_tokens"],
  ["top_n_tokens 21", "/generate", tgi({ top_n_tokens: 21 }), 422, "parameters.top_n_tokens"],
  ["an invalid TGI json grammar", "/generate", tgi({ grammar: { type: "json", value: { type: "strng" } } }), 422, "parameters.grammar.value.type"],
  ["a TGI regex grammar that does not parse", "/generate", tgi({ grammar: { type: "regex", value: "(" } }), 422, "parameters.grammar.value"],
  ["five TGI stop strings", "/generate", tgi({ stop: ["a", "b", "c", "d", "e"] }), 422, "parameters.stop"],
  ["TGI temperature < 0", "/generate_stream", tgi({ temperature: -1 }), 422, "parameters.temperature"],
  ["TGI unknown model", "/generate", tgi({}, { model: "nope" }), 404, "model"],
  ["TGI parameters a list", "/generate", { inputs: "x", parameters: [] }, 422, "parameters"],
];

describe("every validation rule names its field", () => {
  it.each(CASES.map(([name, path, body, status, param]) => [`${name} → ${status} naming ${param}`, path, body, status, param] as const))("%s", async (_name, path, body, status, param) => {
    const res = await post(`${running.url}${path}`, body, AUTH);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    if (path.startsWith("/v1/")) {
      expect(res.body.error.param).toBe(param);
      expect(res.body.error.message.startsWith(`${param}:`), res.body.error.message).toBe(true);
      expect(res.body.error.type).toBe(status === 404 ? "not_found_error" : "invalid_request_error");
      expect(res.body.error.code).toBe(status === 404 ? "MODEL_NOT_FOUND" : status === 400 ? "MALFORMED_BODY" : "VALIDATION");
    } else {
      expect(res.body.param).toBe(param);
      expect(res.body.error.startsWith(`${param}:`), res.body.error).toBe(true);
      expect(res.body.error_type).toBe(status === 404 ? "not_found" : "validation");
    }
  });

  it("a hint names the field meant", async () => {
    const openai = await post(`${running.url}/v1/completions`, completion({ max_new_tokens: 3 }), AUTH);
    expect(openai.body.error.message).toContain('did you mean "max_tokens"');
    const tgiRes = await post(`${running.url}/generate`, tgi({ max_tokens: 3 }), AUTH);
    expect(tgiRes.body.error).toContain('did you mean "max_new_tokens"');
  });

  it("a body over the limit is 413; an empty body 400; a non-JSON content type 415", async () => {
    const huge = await post(`${running.url}/v1/completions`, completion({ prompt: "x".repeat(100_000) }), AUTH);
    expect(huge.status).toBe(413);
    expect(huge.body.error).toMatchObject({ code: "BODY_TOO_LARGE", param: "body" });
    const empty = await post(`${running.url}/v1/completions`, "", AUTH);
    expect(empty.status).toBe(400);
    expect(empty.body.error.param).toBe("body");
    const text = await fetch(`${running.url}/v1/completions`, { method: "POST", headers: { "content-type": "text/plain", ...AUTH }, body: "hello" });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: { param: string } }).error.param).toBe("body");
  });

  it("invalid UTF-8 is refused (400) naming the field it is in, never replaced; valid UTF-8, U+FFFD included, is read", async () => {
    const raw = (path: string, before: string, bytes: number[], after: string) =>
      fetch(`${running.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...AUTH }, body: Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]) });
    const cases: [string, string, number[], string, string][] = [
      ["/v1/completions", '{"max_tokens": 1, "prompt": "In the ', [0xff], ' beginning"}', "prompt"],
      ["/v1/chat/completions", '{"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "a', [0xc3], '"}]}', "messages[1].content"],
      ["/generate", '{"inputs": "x", "parameters": {"stop": ["a", "', [0xed, 0xa0, 0x80], '"]}}', "parameters.stop[1]"], // a UTF-16 surrogate
      ["/generate", '{"inputs": "overlong ', [0xc0, 0xaf], '"}', "inputs"],
    ];
    for (const [path, before, bytes, after, field] of cases) {
      const res = await raw(path, before, bytes, after);
      expect(res.status, field).toBe(400);
      const body = (await res.json()) as { error: { param: string; message: string; code: string } | string; param?: string; code?: string };
      const error = typeof body.error === "string" ? { param: body.param, message: body.error, code: body.code } : body.error;
      expect(error).toMatchObject({ param: field, code: "MALFORMED_BODY" });
      expect(error.message).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, "\\$&")}: not valid UTF-8`));
    }
    // parsed: refused for its max_tokens, not its bytes (and nothing generated, which the metrics test below checks)
    const fine = await raw("/v1/completions", '{"max_tokens": 0, "prompt": "caf', [0xc3, 0xa9, 0x20, 0xef, 0xbf, 0xbd], '"}');
    expect(fine.status).toBe(422);
    expect(((await fine.json()) as { error: { param: string } }).error.param).toBe("max_tokens");
  });

  it("an unknown route is 404 in the shape of its API", async () => {
    const openai = await post(`${running.url}/v1/embeddings`, {}, AUTH);
    expect(openai.status).toBe(404);
    expect(openai.body.error.code).toBe("ROUTE_NOT_FOUND");
    const other = await post(`${running.url}/tokenize`, {}, AUTH);
    expect(other.status).toBe(404);
    expect(other.body.error_type).toBe("not_found");
  });

  it("every refusal was counted by outcome, and none reached the model (no tokens generated)", async () => {
    const text = await (await fetch(`${running.url}/metrics`, { headers: AUTH })).text();
    const validation = text.split("\n").filter((l) => l.startsWith("actorlm_requests_total{") && l.includes('outcome="validation"'));
    const total = validation.reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    expect(total).toBeGreaterThanOrEqual(CASES.filter((c) => c[3] === 422).length);
    expect(metric(text, "actorlm_generated_tokens_total", { model: MODEL }) ?? 0).toBe(0);
    expect(metric(text, "actorlm_active_sequences", { model: MODEL })).toBe(0);
  });
});

describe("errors from the model worker name the route's field", () => {
  it("a field path maps to the route's names, path and all; the message's own text is kept as it is", () => {
    const chat = { maxTokens: "max_tokens", prompt: "messages" };
    const fit = ApiError.from(new InferenceError("VALIDATION", "maxTokens: 2000 new tokens after a prompt of 9 tokens exceed the max sequence length 1024", { field: ["maxTokens"] }), chat);
    expect(fit.param).toBe("max_tokens");
    expect(fit.message).toBe("max_tokens: 2000 new tokens after a prompt of 9 tokens exceed the max sequence length 1024"); // "prompt" in the text stays
    expect(fit.status).toBe(422);
    const tgi = { stop: "parameters.stop", maxTokens: "parameters.max_new_tokens" };
    const nested = ApiError.from(new InferenceError("VALIDATION", "stop[1]: must not be empty", { field: ["stop", 1] }), tgi);
    expect({ param: nested.param, message: nested.message }).toEqual({ param: "parameters.stop[1]", message: "parameters.stop[1]: must not be empty" });
    const declared = new InferenceError("VALIDATION", "must not be empty", { field: "prompt" });
    expect(ApiError.from(declared, chat)).toMatchObject({ param: "messages", message: "messages: must not be empty" });
    // no field path, no param: a message is never parsed for one
    expect(ApiError.from(new InferenceError("VALIDATION", "maxTokens: too many"), chat)).toMatchObject({ param: null, message: "maxTokens: too many" });
    expect(ApiError.from(new InferenceError("OVERLOADED", "busy"), chat)).toMatchObject({ code: "OVERLOADED", status: 429, param: null });
  });
});

describe("API key", () => {
  it("missing: 401 naming authorization, with WWW-Authenticate", async () => {
    const res = await post(`${running.url}/v1/completions`, completion({}));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(res.body.error).toMatchObject({ code: "UNAUTHORIZED", param: "authorization", type: "authentication_error" });
  });

  it("wrong (same length, other length, not Bearer): 401 in each API's shape", async () => {
    for (const authorization of [`Bearer ${KEY.replace("s", "S")}`, "Bearer x", `Basic ${KEY}`]) {
      const openai = await post(`${running.url}/v1/completions`, completion({}), { authorization });
      expect(openai.status).toBe(401);
      expect(openai.body.error.code).toBe("UNAUTHORIZED");
      const tgiRes = await post(`${running.url}/generate`, tgi({}), { authorization });
      expect(tgiRes.status).toBe(401);
      expect(tgiRes.body).toMatchObject({ error_type: "authentication", code: "UNAUTHORIZED" });
    }
    expect((await fetch(`${running.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${running.url}/metrics`)).status).toBe(401);
  });

  it("right: served; the playground and /health need no key", async () => {
    const res = await post(`${running.url}/v1/completions`, completion({ max_tokens: 1 }), AUTH);
    expect(res.status).toBe(200);
    expect(res.body.choices[0].text.length).toBeGreaterThan(0);
    for (const path of ["/", "/playground.js", "/playground.css", "/health"]) expect((await fetch(`${running.url}${path}`)).status, path).toBe(200);
  });

  it("HEAD is GET without a body: the same key rule, the same status", async () => {
    for (const path of ["/", "/health"]) expect((await fetch(`${running.url}${path}`, { method: "HEAD" })).status, path).toBe(200);
    expect((await fetch(`${running.url}/v1/models`, { method: "HEAD" })).status).toBe(401);
    expect((await fetch(`${running.url}/v1/models`, { method: "HEAD", headers: AUTH })).status).toBe(200);
  });
});
