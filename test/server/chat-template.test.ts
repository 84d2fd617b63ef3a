/**
 * Chat templates: @huggingface/jinja through ChatTemplate renders what Python's Jinja2 renders in transformers'
 * apply_chat_template environment (test/fixtures/chat-templates.json, from chat-templates.gen.py), refusals
 * included; a model's template is found in tokenizer_config.json or chat_template.jinja, a leading bos is not
 * doubled, and a server answers chat with exactly the rendered prompt.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChatTemplate, PLAIN_CHAT_TEMPLATE, type ChatMessage } from "@actorlm/server";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../generation/helpers.js";
import { rejection } from "../assertions.js";
import { EMBEDDED_MODEL_DIR, post, referenceModel, startServer } from "./helpers.js";

interface Fixture {
  specials: Record<string, string>;
  templates: Record<string, string>;
  conversations: Record<string, ChatMessage[]>;
  cases: { template: string; conversation: string; add_generation_prompt: boolean; text?: string; error?: string }[];
}
const FIXTURE = JSON.parse(readFileSync(join(ROOT, "test/fixtures/chat-templates.json"), "utf8")) as Fixture;

const tmp = mkdtempSync(join(tmpdir(), "actorlm-chat-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of the embedded model (files linked) whose tokenizer_config.json gains `extra`; `jinja` adds chat_template.jinja. */
function modelWith(name: string, extra: Record<string, unknown>, jinja?: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const file of readdirSync(EMBEDDED_MODEL_DIR)) if (file !== "tokenizer_config.json") symlinkSync(join(EMBEDDED_MODEL_DIR, file), join(dir, file));
  const config = JSON.parse(readFileSync(join(EMBEDDED_MODEL_DIR, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, ...extra }));
  if (jinja !== undefined) writeFileSync(join(dir, "chat_template.jinja"), jinja);
  return dir;
}

describe("rendering matches Jinja2 in transformers' environment", () => {
  it("the fixture's plain template is PLAIN_CHAT_TEMPLATE", () => {
    expect(FIXTURE.templates.plain).toBe(PLAIN_CHAT_TEMPLATE);
  });

  it.each(FIXTURE.cases.map((c) => [`${c.template} / ${c.conversation} / generation prompt ${c.add_generation_prompt}`, c] as const))(
    "%s",
    async (_name, c) => {
      const template = ChatTemplate.fromSource(FIXTURE.templates[c.template], FIXTURE.specials);
      const render = () => template.render(FIXTURE.conversations[c.conversation], { addGenerationPrompt: c.add_generation_prompt });
      if (c.error === undefined) {
        expect(render()).toBe(c.text);
      } else {
        const error = await rejection(Promise.resolve().then(render), "VALIDATION");
        expect(error.message).toContain(c.error);
        expect(error.message.startsWith("messages:")).toBe(true);
      }
    },
  );
});

describe("a model's own template", () => {
  it("comes from tokenizer_config.json (string, or the default of a named list), else chat_template.jinja, else plain", async () => {
    const source = FIXTURE.templates["im-markers"];
    const messages = FIXTURE.conversations["one question"];
    const expected = FIXTURE.cases.find((c) => c.template === "im-markers" && c.conversation === "one question" && c.add_generation_prompt)!.text;
    const fromString = await ChatTemplate.fromModelDir(modelWith("string", { chat_template: source }), true);
    expect(fromString.origin).toBe("model");
    expect(fromString.render(messages)).toBe(expected);
    const fromList = await ChatTemplate.fromModelDir(modelWith("list", { chat_template: [{ name: "tool_use", template: "x" }, { name: "default", template: source }] }), true);
    expect(fromList.render(messages)).toBe(expected);
    const fromFile = await ChatTemplate.fromModelDir(modelWith("file", {}, source), true);
    expect(fromFile.render(messages)).toBe(expected);
    expect((await ChatTemplate.fromModelDir(EMBEDDED_MODEL_DIR, true)).origin).toBe("plain");
  });

  it("a template that does not parse is MODEL_LOAD naming the file", async () => {
    const dir = modelWith("broken", { chat_template: "{% for m in messages %}" });
    const error = await rejection(ChatTemplate.fromModelDir(dir, true), "MODEL_LOAD");
    expect(error.message).toContain(join(dir, "tokenizer_config.json"));
  });

  it("a rendered leading bos_token is dropped when the tokenizer adds bos itself, kept otherwise", () => {
    const source = FIXTURE.templates.headers;
    const messages = FIXTURE.conversations["one question"];
    const rendered = FIXTURE.cases.find((c) => c.template === "headers" && c.conversation === "one question" && c.add_generation_prompt)!.text!;
    expect(ChatTemplate.fromSource(source, FIXTURE.specials, true).render(messages)).toBe(rendered.slice(FIXTURE.specials.bos_token.length));
    expect(ChatTemplate.fromSource(source, FIXTURE.specials, false).render(messages)).toBe(rendered);
  });

  it("served: a chat completion is generate() of the rendered prompt, counted with one bos", async () => {
    const dir = modelWith("served", { chat_template: FIXTURE.templates.headers });
    const running = await startServer({ models: [{ name: "templated", dir }] });
    const lib = await referenceModel();
    try {
      const messages = FIXTURE.conversations["with a system message"];
      const rendered = FIXTURE.cases.find((c) => c.template === "headers" && c.conversation === "with a system message" && c.add_generation_prompt)!.text!;
      const prompt = rendered.slice("<|begin_of_text|>".length);
      const ref = await lib.of({ prompt, maxTokens: 8 });
      const res = await post(`${running.url}/v1/chat/completions`, { model: "templated", messages, max_tokens: 8, temperature: 0 });
      expect(res.status).toBe(200);
      expect(res.body.choices[0].message.content).toBe(ref.text);
      const ids = await running.server.models.get("templated").host.call("encode", prompt);
      expect(ids[0]).toBe(0);
      expect(ids.filter((id) => id === 0)).toHaveLength(1);
      expect(res.body.usage.prompt_tokens).toBe(ids.length);
      const refused = await post(`${running.url}/v1/chat/completions`, { model: "templated", messages: FIXTURE.conversations["two user turns in a row"] });
      expect(refused.status).toBe(422);
      expect(refused.body.error.param).toBe("messages");
      expect(refused.body.error.message).toContain("Conversation roles must alternate");
    } finally {
      await Promise.all([running.close(), lib.close()]);
    }
  });
});
