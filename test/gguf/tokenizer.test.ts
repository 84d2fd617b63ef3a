/**
 * Tokenizers rebuilt from GGUF metadata: a SentencePiece-style vocabulary (`tokenizer.ggml.model` "llama": scores,
 * byte tokens, "▁" for spaces) merges by score as llama.cpp's SPM tokenizer does and falls back to bytes; bos / eos,
 * add_bos and the chat template come from the metadata; CONTROL tokens are special (matched in text, skipped when
 * decoding), USER_DEFINED ones are matched but kept. (The byte-level "gpt2" path is checked on kjv-llama in
 * conformance.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ChatTemplate } from "../../packages/llm/src/chat-template.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { ggufBytes, type MetaValue } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "actorlm-gguf-tok-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// token, score, type (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte)
const VOCAB: [string, number, number][] = [
  ["<unk>", 0, 2], ["<s>", 0, 3], ["</s>", 0, 3],
  ...Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, 0, 6] as [string, number, number]),
  ["▁", -20, 1], ["h", -20, 1], ["e", -20, 1], ["l", -20, 1], ["o", -20, 1], ["w", -20, 1], ["r", -20, 1], ["d", -20, 1],
  ["▁hello", -1, 1], ["▁world", -1, 1], ["llo", -2, 1], ["▁he", -3, 1], ["▁wor", -3, 1], ["ld", -4, 1], ["▁h", -5, 1],
  ["el", -6, 1], ["ll", -7, 1], ["lo", -8, 1], ["or", -9, 1], ["▁w", -10, 1], ["<tool>", 0, 4],
];
const id = (t: string) => VOCAB.findIndex(([s]) => s === t);

function file(extra: Record<string, MetaValue> = {}): string {
  const path = join(dir, `spm-${Object.keys(extra).join("-") || "plain"}.gguf`);
  writeFileSync(path, ggufBytes({
    "general.architecture": { type: "string", value: "llama" },
    "tokenizer.ggml.model": { type: "string", value: "llama" },
    "tokenizer.ggml.tokens": { type: "array", of: "string", value: VOCAB.map(([t]) => t) },
    "tokenizer.ggml.scores": { type: "array", of: "f32", value: VOCAB.map(([, s]) => s) },
    "tokenizer.ggml.token_type": { type: "array", of: "i32", value: VOCAB.map(([, , t]) => t) },
    "tokenizer.ggml.bos_token_id": { type: "u32", value: 1 },
    "tokenizer.ggml.eos_token_id": { type: "u32", value: 2 },
    "tokenizer.ggml.unknown_token_id": { type: "u32", value: 0 },
    "tokenizer.chat_template": { type: "string", value: "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}" },
    ...extra,
  }, []));
  return path;
}

describe("GGUF SentencePiece-style tokenizer", () => {
  it("merges by score, prepends ▁ and bos, falls back to bytes, and decodes back", async () => {
    const tok = await Tokenizer.fromDir(file());
    expect(tok.encode("hello world")).toEqual([1, id("▁hello"), id("▁world")]);
    // ▁h (−5) then ▁he (−3); l l → ll (−7); ü is not in the vocabulary: its UTF-8 bytes
    expect(tok.encode("hellü", { addSpecialTokens: false })).toEqual([id("▁he"), id("ll"), id("<0xC3>"), id("<0xBC>")]);
    expect(tok.decode(tok.encode("hello world hellü"))).toBe("hello world hellü");
    expect(tok.bosId).toBe(1);
    expect([...tok.eosIds]).toEqual([2]);
  });

  it("control tokens in text are matched and special; user-defined ones matched and kept", async () => {
    const tok = await Tokenizer.fromDir(file());
    const ids = tok.encode("hello</s><tool>", { addSpecialTokens: false });
    expect(ids).toEqual([id("▁hello"), 2, id("<tool>")]);
    expect(tok.isSpecial(2)).toBe(true);
    expect(tok.isSpecial(id("<tool>"))).toBe(false);
    expect(tok.decode(ids)).toBe("hello<tool>");
  });

  it("add_bos_token false and add_space_prefix false are honoured", async () => {
    const tok = await Tokenizer.fromDir(file({
      "tokenizer.ggml.add_bos_token": { type: "bool", value: false },
      "tokenizer.ggml.add_space_prefix": { type: "bool", value: false },
    }));
    expect(tok.encode("hello")).toEqual([id("h"), id("el"), id("lo")]);
  });

  it("the chat template comes from tokenizer.chat_template, with the bos text", async () => {
    const path = file();
    const template = await ChatTemplate.fromModelDir(path, true);
    expect(template.render([{ role: "user", content: "hi" }])).toBe("[user] hi");
  });
});
