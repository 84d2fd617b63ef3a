/**
 * Tool-call syntax per family: the parser splits completions into text and calls (Hermes / Qwen, Llama 3.1, Mistral in
 * both its forms), calls that do not parse stay text, and the streaming parser, fed the same text in any chunking,
 * releases the same text and calls as the parser of the whole. Checks of tools and tool_choice name the path.
 */
import { describe, expect, it } from "vitest";
import {
  checkToolChoice, checkTools, HERMES_FORMAT, LLAMA3_FORMAT, MISTRAL_FORMAT, parseToolCalls, Rng, toolCallFormat, ToolCallStream,
  type ToolCallFormat, type ToolCallDelta,
} from "@actorlm/llm";
import { validationField as fieldOf } from "../assertions.js";

const ids = () => {
  let n = 0;
  return () => `call_${n++}`;
};

describe("parsing", () => {
  it("Hermes / Qwen: <tool_call> blocks, text around them kept", () => {
    const text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "time", "arguments": {}}\n</tool_call>';
    expect(parseToolCalls(HERMES_FORMAT, text, ids())).toEqual({
      content: "Let me look.",
      toolCalls: [
        { id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
        { id: "call_1", type: "function", function: { name: "time", arguments: "{}" } },
      ],
    });
    expect(parseToolCalls(HERMES_FORMAT, '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>', ids()).content).toBeNull();
  });

  it("Llama 3.1: JSON calls with parameters, after <|python_tag|> or separated by ;", () => {
    expect(LLAMA3_FORMAT.parse('{"name": "f", "parameters": {"x": 1}}; {"name": "g", "parameters": {}}').calls).toEqual([
      { name: "f", arguments: '{"x":1}' },
      { name: "g", arguments: "{}" },
    ]);
    expect(LLAMA3_FORMAT.parse('<|python_tag|>{"name": "f", "parameters": {"q": "a}b"}}')).toEqual({ content: "", calls: [{ name: "f", arguments: '{"q":"a}b"}' }] });
  });

  it("Mistral: [TOOL_CALLS] with a list, and the name[ARGS] form", () => {
    expect(MISTRAL_FORMAT.parse('[TOOL_CALLS][{"name": "f", "arguments": {"a": [1, 2]}}, {"name": "g", "arguments": {}}]').calls).toEqual([
      { name: "f", arguments: '{"a":[1,2]}' },
      { name: "g", arguments: "{}" },
    ]);
    expect(MISTRAL_FORMAT.parse('ok [TOOL_CALLS]lookup[ARGS]{"id": 3}')).toEqual({ content: "ok", calls: [{ name: "lookup", arguments: '{"id":3}' }] });
  });

  it("text that only looks like a call stays text", () => {
    for (const text of ["<tool_call>\n{not json}\n</tool_call>", "<tool_call>\n{\"name\": \"f\"", "use {\"x\": 1} here", "[TOOL_CALLS] nothing"]) {
      for (const format of [HERMES_FORMAT, LLAMA3_FORMAT, MISTRAL_FORMAT]) expect(format.parse(text)).toEqual({ content: text, calls: [] });
    }
  });

  it("picks the format from the chat template", () => {
    expect(toolCallFormat("{{ '<tool_call>' }}").name).toBe("hermes");
    expect(toolCallFormat("[TOOL_CALLS]").name).toBe("mistral");
    expect(toolCallFormat("Environment: ipython").name).toBe("llama3");
    expect(toolCallFormat(undefined).name).toBe("hermes");
  });
});

describe("streaming", () => {
  const cases: [ToolCallFormat, string][] = [
    [HERMES_FORMAT, 'Sure.\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\n<tool_call>\n{"name": "t", "arguments": {}}\n</tool_call>\nDone <tool'],
    [HERMES_FORMAT, "No calls at all, just < text > and <tool_ tags."],
    [LLAMA3_FORMAT, '{"name": "f", "parameters": {"x": "}{"}}; {"name": "g", "parameters": {}}'],
    [MISTRAL_FORMAT, 'Hm [TOOL_CALLS][{"name": "f", "arguments": {"a": 1}}] then [TOOL_CALLS]g[ARGS]{"b": 2}'],
  ];
  it.each(cases.map(([f, t], i) => [i, f, t] as const))("case %i: any chunking gives the parser's text and calls", (_, format, text) => {
    const whole = parseToolCalls(format, text, ids());
    const rng = new Rng(5);
    for (let trial = 0; trial < 30; trial++) {
      const stream = new ToolCallStream(format, ids());
      let content = "";
      const deltas: ToolCallDelta[] = [];
      for (let at = 0; at < text.length; ) {
        const n = 1 + Math.floor(rng.nextFloat() * 7);
        const event = stream.push(text.slice(at, at + n));
        content += event.content;
        deltas.push(...event.toolCalls);
        at += n;
      }
      const last = stream.flush();
      content += last.content;
      deltas.push(...last.toolCalls);
      expect(content).toBe(whole.content ?? "");
      const calls = whole.toolCalls.map((_, index) => ({
        id: deltas.find((d) => d.index === index && d.id !== undefined)?.id,
        name: deltas.filter((d) => d.index === index).map((d) => d.function.name ?? "").join(""),
        arguments: deltas.filter((d) => d.index === index).map((d) => d.function.arguments).join(""),
      }));
      expect(calls).toEqual(whole.toolCalls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })));
      // OpenAI's shape: the first delta of a call has id, type and name with empty arguments
      for (const first of deltas.filter((d) => d.id !== undefined)) expect(first).toMatchObject({ type: "function", function: { arguments: "" } });
    }
  });
});

describe("checks", () => {
  const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

  it("names the path of a bad tool or choice", () => {
    expect(checkTools([weather])).toHaveLength(1);
    expect(fieldOf(() => checkTools([{ type: "function", function: { name: "x y" } }]))).toBe("tools[0].function.name");
    expect(fieldOf(() => checkTools([weather, weather]))).toBe("tools[1].function.name");
    expect(fieldOf(() => checkTools([{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "strin" } } } } }]))).toBe("tools[0].function.parameters.properties.a.type");
    expect(fieldOf(() => checkToolChoice({ type: "function", function: { name: "nope" } }, checkTools([weather])))).toBe("tool_choice.function.name");
    expect(fieldOf(() => checkToolChoice("sometimes", []))).toBe("tool_choice");
  });
});
