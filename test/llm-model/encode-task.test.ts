/** The pool task's per-thread tokenizer cache: a failed load is retried, a changed tokenizer.json is reloaded. */
import { copyFileSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import encode from "../../packages/llm/src/tokenize/encode-task.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");
const FILES = ["config.json", "generation_config.json", "tokenizer_config.json"];

describe("encode task", () => {
  it("does not keep a failed load, and reloads when tokenizer.json's mtime changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "actorlm-encode-"));
    for (const f of FILES) copyFileSync(join(MODEL, f), join(dir, f));
    await expect(encode({ dir, text: "In the beginning" })).rejects.toMatchObject({ code: "MODEL_LOAD" });

    const tokenizerPath = join(dir, "tokenizer.json");
    const tokenizer = JSON.parse(readFileSync(join(MODEL, "tokenizer.json"), "utf8")) as { added_tokens: unknown[] };
    writeFileSync(tokenizerPath, JSON.stringify(tokenizer));
    utimesSync(tokenizerPath, 1_000_000, 1_000_000);
    const plain = [...await encode({ dir, text: "In the beginning" })];
    expect(plain[0]).toBe(0);
    expect(plain.length).toBeGreaterThan(2);

    tokenizer.added_tokens.push({ id: 4096, content: "In the beginning", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
    writeFileSync(tokenizerPath, JSON.stringify(tokenizer));
    utimesSync(tokenizerPath, 2_000_000, 2_000_000);
    expect([...await encode({ dir, text: "In the beginning" })]).toEqual([0, 4096]);
  });
});
