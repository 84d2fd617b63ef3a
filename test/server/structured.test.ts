/**
 * The HTTP surfaces of structured output, tools and logprobs as pure functions: response_format and TGI's grammar
 * become the engine's grammar spec with errors naming the path inside the body, tools and tool_choice are checked,
 * and log-probabilities take OpenAI's chat and completions shapes and TGI's details.
 */
import { describe, expect, it } from "vitest";
import { validationField as fieldOf } from "../assertions.js";
import { chatLogprobs, completionLogprobs, responseFormatGrammar, tgiGrammar, tgiTokens, toolRequest } from "../../packages/server/src/structured.js";

describe("response_format", () => {
  it("maps text, json_object and json_schema", () => {
    expect(responseFormatGrammar({ type: "text" })).toBeUndefined();
    expect(responseFormatGrammar({ type: "json_object" })).toEqual({ type: "json_object" });
    const schema = { type: "object", properties: { age: { type: "integer" } }, required: ["age"], additionalProperties: false };
    expect(responseFormatGrammar({ type: "json_schema", json_schema: { name: "person", strict: true, schema } })).toEqual({ type: "json_schema", schema });
  });

  it("names the path inside the body, and the unsupported keyword", () => {
    expect(fieldOf(() => responseFormatGrammar({ type: "json_schema", json_schema: { name: "p", schema: { type: "object", properties: { age: { type: "intger" } } } } }))).toBe("response_format.json_schema.schema.properties.age.type");
    expect(fieldOf(() => responseFormatGrammar({ type: "json_schema", json_schema: { name: "p", schema: { type: "array", uniqueItems: true } } }))).toBe("response_format.json_schema.schema.uniqueItems");
    expect(fieldOf(() => responseFormatGrammar({ type: "json_schema", json_schema: { schema: {} } }))).toBe("response_format.json_schema.name");
    expect(fieldOf(() => responseFormatGrammar({ type: "yaml" }))).toBe("response_format.type");
  });
});

describe("TGI grammar", () => {
  it("maps json (object or JSON text) and regex, naming paths under parameters.grammar.value", () => {
    expect(tgiGrammar({ type: "json", value: { type: "integer" } })).toEqual({ type: "json_schema", schema: { type: "integer" } });
    expect(tgiGrammar({ type: "json", value: '{"type": "boolean"}' })).toEqual({ type: "json_schema", schema: { type: "boolean" } });
    expect(tgiGrammar({ type: "regex", value: "[0-9]+" })).toEqual({ type: "regex", pattern: "[0-9]+" });
    expect(fieldOf(() => tgiGrammar({ type: "json", value: { properties: { a: { type: "strng" } } } }))).toBe("parameters.grammar.value.properties.a.type");
    expect(fieldOf(() => tgiGrammar({ type: "regex", value: "(" }))).toBe("parameters.grammar.value");
    expect(fieldOf(() => tgiGrammar({ type: "json", value: "{nope" }))).toBe("parameters.grammar.value");
  });
});

describe("tools", () => {
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
  it("defaults tool_choice to auto and parallel_tool_calls to true; checks names", () => {
    expect(toolRequest({ tools })).toMatchObject({ choice: "auto", parallel: true });
    expect(toolRequest({ tools, tool_choice: "required", parallel_tool_calls: false })).toMatchObject({ choice: "required", parallel: false });
    expect(toolRequest({})).toBeUndefined();
    expect(fieldOf(() => toolRequest({ tool_choice: "required" }))).toBe("tool_choice");
    expect(fieldOf(() => toolRequest({ tools, tool_choice: { type: "function", function: { name: "other" } } }))).toBe("tool_choice.function.name");
    expect(fieldOf(() => toolRequest({ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", not: {} } } }] }))).toBe("tools[0].function.parameters.not");
  });
});

describe("logprobs shapes", () => {
  const texts: Record<number, string> = { 1: " the", 2: "é", 3: " a" };
  const text = (id: number) => texts[id];
  const tokens = [
    { tokenId: 1, logprob: -0.5, topLogprobs: [{ tokenId: 1, logprob: -0.5 }, { tokenId: 3, logprob: -1.5 }], special: false },
    { tokenId: 2, logprob: -2, topLogprobs: [{ tokenId: 3, logprob: -1 }, { tokenId: 2, logprob: -2 }], special: false },
  ];
  it("chat: token, logprob, bytes, top_logprobs", () => {
    expect(chatLogprobs(tokens, text).content[1]).toEqual({ token: "é", logprob: -2, bytes: [0xc3, 0xa9], top_logprobs: [{ token: " a", logprob: -1, bytes: [32, 97] }, { token: "é", logprob: -2, bytes: [0xc3, 0xa9] }] });
  });
  it("completions: tokens, token_logprobs, top_logprobs as maps, text_offset", () => {
    expect(completionLogprobs(tokens, text, 10)).toEqual({
      tokens: [" the", "é"],
      token_logprobs: [-0.5, -2],
      top_logprobs: [{ " the": -0.5, " a": -1.5 }, { é: -2, " a": -1 }],
      text_offset: [10, 14],
    });
  });
  it("TGI: details.tokens and top_tokens", () => {
    expect(tgiTokens(tokens, text, () => false)).toEqual({
      tokens: [{ id: 1, text: " the", logprob: -0.5, special: false }, { id: 2, text: "é", logprob: -2, special: false }],
      top_tokens: [
        [{ id: 1, text: " the", logprob: -0.5, special: false }, { id: 3, text: " a", logprob: -1.5, special: false }],
        [{ id: 3, text: " a", logprob: -1, special: false }, { id: 2, text: "é", logprob: -2, special: false }],
      ],
    });
  });
});
