/**
 * LlamaModel.load refuses a tokenizer with ids the model has no embedding row for: a vocabulary larger than
 * vocab_size (an added token past it) or an eos id ≥ vocab_size. Copies of kjv-llama (vocab_size 4096).
 */
import { mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LlamaModel } from "../../packages/llm/src/llama-model.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");

/** A model dir linking kjv-llama's files, with `name` replaced by the JSON `edit` returns. */
function withEdited(name: string, edit: (json: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "actorlm-vocab-"));
  for (const f of readdirSync(MODEL)) if (f !== name) symlinkSync(join(MODEL, f), join(dir, f));
  const json = JSON.parse(readFileSync(join(MODEL, name), "utf8")) as Record<string, unknown>;
  edit(json);
  writeFileSync(join(dir, name), JSON.stringify(json));
  return dir;
}

async function refusal(dir: string): Promise<Error & { code?: string; file?: string }> {
  const error = await LlamaModel.load(dir).then(() => null, (e: unknown) => e);
  expect(error).toMatchObject({ code: "MODEL_LOAD" });
  return error as Error;
}

describe("tokenizer ids beyond the model's vocab_size", () => {
  it("an added token with id 4096 (tokenizer vocabulary 4097): MODEL_LOAD naming tokenizer.json and both sizes", async () => {
    const dir = withEdited("tokenizer.json", (t) => {
      (t.added_tokens as unknown[]).push({
        id: 4096, content: "<|extra|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
      });
    });
    const error = await refusal(dir);
    expect(error.file).toBe(join(dir, "tokenizer.json"));
    expect(error.message).toContain("4097");
    expect(error.message).toContain("4096");
  });

  it("an eos id of 5000 in generation_config.json: MODEL_LOAD naming the id and vocab_size", async () => {
    const dir = withEdited("generation_config.json", (g) => { g.eos_token_id = [1, 5000]; });
    const error = await refusal(dir);
    expect(error.message).toContain("eos token id 5000");
    expect(error.message).toContain("4096");
  });

  it("the unedited copy loads", async () => {
    const model = await LlamaModel.load(withEdited("generation_config.json", () => {}));
    expect(model.info()).toMatchObject({ vocabSize: 4096, bosId: 0, eosIds: [1] });
  });
});
