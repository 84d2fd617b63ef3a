/**
 * Vocabulary sizes that disagree, on copies of kjv-llama (vocab_size 4096). LlmEngine.load refuses a tokenizer
 * with ids the model has no embedding row for: a vocabulary larger than vocab_size (an added token past it) or an
 * eos id ≥ vocab_size. The other way round (an embedding padded past the tokenizer) loads, and the padding ids
 * are never sampled.
 */
import { mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { validateRequest, type GenerateRequest } from "../../packages/llm/src/generation/request.js";
import { LlmEngine } from "../../packages/llm/src/engine/engine.js";
import { argmax } from "../../packages/llm/src/sampling/processors.js";
import { buildSafetensors, type Entry } from "../tensor/helpers.js";
import { loadLlama, session } from "./helpers.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");
const REF = JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures/kjv-llama.json"), "utf8")) as {
  prompts: { prompt: string; ids: number[]; greedy_ids: number[] }[];
};

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
  const error = await LlmEngine.load(dir).then(() => null, (e: unknown) => e);
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
    const model = await LlmEngine.load(withEdited("generation_config.json", () => {}));
    expect(model.info()).toMatchObject({ vocabSize: 4096, bosId: 0, eosIds: [1] });
  });
});

/**
 * A copy of kjv-llama whose embedding (tied to the head) is padded past the tokenizer's 4096 ids, as real
 * checkpoints often are (vocab_size rounded up). Pad row k is twice the row of the k-th distinct greedy token of
 * reference prompt 0, so its logit is twice that token's: unmasked, greedy decoding would pick pad ids.
 */
function paddedCopy(greedyIds: readonly number[]): { dir: string; padded: number } {
  const dir = mkdtempSync(join(tmpdir(), "actorlm-padded-"));
  for (const f of readdirSync(MODEL)) if (f !== "model.safetensors" && f !== "config.json") symlinkSync(join(MODEL, f), join(dir, f));
  const file = readFileSync(join(MODEL, "model.safetensors"));
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = file.subarray(8 + headerLength);
  const rows = [...new Set(greedyIds)];
  const entries: Entry[] = Object.entries(header)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, info]) => {
      const bytes = new Uint8Array(data.subarray(info.data_offsets[0], info.data_offsets[1]));
      if (name !== "model.embed_tokens.weight") return { name, dtype: info.dtype, shape: info.shape, bytes };
      const [vocab, hidden] = info.shape;
      const table = new Uint16Array(bytes.buffer, bytes.byteOffset, vocab * hidden);
      const out = new Uint16Array((vocab + rows.length) * hidden);
      out.set(table);
      const f32 = new Float32Array(1);
      const u32 = new Uint32Array(f32.buffer);
      rows.forEach((row, k) => {
        for (let i = 0; i < hidden; i++) {
          u32[0] = table[row * hidden + i] << 16;
          f32[0] *= 2; // exact in bf16: one more in the exponent
          out[(vocab + k) * hidden + i] = u32[0] >>> 16;
        }
      });
      return { name, dtype: info.dtype, shape: [vocab + rows.length, hidden], bytes: new Uint8Array(out.buffer) };
    });
  writeFileSync(join(dir, "model.safetensors"), buildSafetensors(entries));
  const config = JSON.parse(readFileSync(join(MODEL, "config.json"), "utf8")) as { vocab_size: number };
  config.vocab_size += rows.length;
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  return { dir, padded: rows.length };
}

describe("an embedding padded past the tokenizer's vocabulary", () => {
  const ref = REF.prompts[0];
  let dir: string;
  let padded: number;
  let model: LlmEngine;
  beforeAll(async () => {
    ({ dir, padded } = paddedCopy(ref.greedy_ids));
    model = await LlmEngine.load(dir);
  });

  /** Token ids of one run of `request` on the padded model. */
  function run(request: GenerateRequest): number[] {
    const { prompt, ...rest } = validateRequest(request, { maxSequenceLength: model.info().maxSequenceLength, maxStopSequences: 4 });
    const { id } = model.submit({ ...rest, promptIds: model.encode(prompt as string) });
    const ids: number[] = [];
    for (let finished = false; !finished; ) {
      const step = model.step(id);
      ids.push(step.tokenId);
      finished = step.finishReason !== undefined;
    }
    return ids;
  }

  it("loads, and unmasked its greedy choice would be a pad id (so the test below can fail)", async () => {
    expect(model.info().vocabSize).toBe(4096 + padded);
    const raw = await loadLlama(dir);
    const logits = session(raw, ref.ids.length).forward(ref.ids);
    expect(argmax(logits)).toBeGreaterThanOrEqual(4096);
  });

  it("greedy decoding never picks a pad id: the reference continuation, exactly", () => {
    expect(run({ prompt: ref.prompt, maxTokens: 40, temperature: 0 })).toEqual(ref.greedy_ids);
  });

  it("sampling never picks one either, at any temperature", () => {
    for (const temperature of [0.7, 1, 2]) {
      const ids = run({ prompt: ref.prompt, maxTokens: 60, temperature, seed: 11 });
      expect(ids).toHaveLength(60);
      expect(ids.every((id) => id < 4096)).toBe(true);
    }
  });
});
