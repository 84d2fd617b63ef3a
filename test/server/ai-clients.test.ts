/**
 * Structured output and tools through the server with the Vercel AI SDK (`generateObject` and a tool with
 * `generateText`, over @ai-sdk/openai-compatible) and LangChain (`withStructuredOutput` and `bindTools` on
 * ChatOpenAI): the objects and tool arguments each framework parses and validates itself.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { generateObject, generateText, tool } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { MODEL, startServer, type Running } from "./helpers.js";

let running: Running;
beforeAll(async () => {
  running = await startServer();
});
afterAll(() => running.close());

const Verse = z.object({ book: z.enum(["Genesis", "John", "Ruth"]), chapter: z.number().int().min(1).max(50) });
const FindVerse = z.object({ book: z.enum(["John", "Ruth", "Acts"]), chapter: z.number().int().min(1).max(30) });

describe("Vercel AI SDK", () => {
  const provider = () => createOpenAICompatible({ name: "actorlm", baseURL: `${running.url}/v1`, apiKey: "unused", supportsStructuredOutputs: true });

  it("generateObject with a zod schema", async () => {
    for (const seed of [1, 2]) {
      const { object, finishReason } = await generateObject({ model: provider()(MODEL), schema: Verse, prompt: "Name a verse.", maxOutputTokens: 60, temperature: seed === 1 ? 0 : 1, seed });
      expect(finishReason).toBe("stop");
      expect(Verse.parse(object)).toEqual(object);
    }
  });

  it("generateText with a tool the model must call", async () => {
    const { toolCalls, finishReason } = await generateText({
      model: provider()(MODEL),
      prompt: "Where is it written?",
      tools: { find_verse: tool({ description: "Look a verse up", inputSchema: FindVerse }) },
      toolChoice: "required",
      maxOutputTokens: 80,
      temperature: 0,
    });
    expect(finishReason).toBe("tool-calls");
    expect(toolCalls).toHaveLength(1);
    expect(toolCalls[0].toolName).toBe("find_verse");
    expect(FindVerse.parse(toolCalls[0].input)).toEqual(toolCalls[0].input);
  });
});

describe("LangChain", () => {
  const chat = () => new ChatOpenAI({ model: MODEL, apiKey: "unused", configuration: { baseURL: `${running.url}/v1` }, temperature: 0, maxTokens: 80, maxRetries: 0 });

  it("withStructuredOutput (json_schema and function calling)", async () => {
    for (const method of ["jsonSchema", "functionCalling"] as const) {
      const out = await chat().withStructuredOutput(Verse, { name: "verse", method }).invoke("Name a verse.");
      expect(Verse.parse(out)).toEqual(out);
    }
  });

  it("bindTools with tool_choice required", async () => {
    const message = await chat().bindTools([{ name: "find_verse", description: "Look a verse up", schema: FindVerse }], { tool_choice: "required" }).invoke("Where is it written?");
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0].name).toBe("find_verse");
    expect(FindVerse.parse(message.tool_calls![0].args)).toEqual(message.tool_calls![0].args);
  });
});
