import { mkdtemp, readFile, writeFile, copyFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { LlmError } from "../../packages/llm/src/errors.js";
import { EMBEDDED_MODEL_DIR as MODEL } from "../../packages/llm/src/embedded-model.js";

type RefPrompt = { prompt: string; ids: number[]; greedy_ids: number[]; greedy_text: string };
type Case = { text: string; ids: number[]; decoded: string; decodedWithSpecial: string; prefixDecodes: string[] };

const llama = JSON.parse(await readFile("test/fixtures/kjv-llama.json", "utf8")) as { prompts: RefPrompt[] };
const bitnet = JSON.parse(await readFile("test/fixtures/kjv-bitnet-tokens.json", "utf8")) as { prompts: RefPrompt[] };
// 20 extra strings tokenized by the Rust `tokenizers` library (whitespace runs, digits, accents, emoji, …)
const cases = (JSON.parse(await readFile("test/fixtures/tokenizer-cases.json", "utf8")) as { cases: Case[] }).cases;

let tok: Tokenizer;
beforeAll(async () => {
  tok = await Tokenizer.fromDir(MODEL);
});

describe("Tokenizer.fromDir (kjv-llama)", () => {
  it("reads bos / eos / vocabulary size from the configs", () => {
    expect(tok.bosId).toBe(0);
    expect(tok.eosIds).toEqual([1]);
    expect(tok.vocabSize).toBe(4096);
    expect(tok.idToToken(0)).toBe("<|begin_of_text|>");
    expect(tok.tokenToId("<|end_of_text|>")).toBe(1);
    expect(tok.isSpecial(0) && tok.isSpecial(1) && !tok.isSpecial(2)).toBe(true);
    expect(tok.isEos(1)).toBe(true);
  });
});

describe("maxTokenBytes: how many bytes of text one token can stand for", () => {
  it("is the longest token's byte length for the byte-level kjv tokenizer", () => {
    let longest = 0;
    for (let id = 0; id < tok.vocabSize; id++) longest = Math.max(longest, Buffer.byteLength(tok.decode([id], { skipSpecialTokens: false })));
    expect(tok.maxTokenBytes).toBe(longest);
  });

  it("bounds every tokenization: no text has fewer tokens than its bytes / maxTokenBytes", () => {
    const texts = [...cases.map((c) => c.text), ...llama.prompts.map((p) => p.prompt), "<|begin_of_text|>".repeat(50), "a".repeat(5000)];
    for (const text of texts) {
      const tokens = tok.encode(text, { addSpecialTokens: false }).length;
      expect(tokens * tok.maxTokenBytes, JSON.stringify(text.slice(0, 40))).toBeGreaterThanOrEqual(Buffer.byteLength(text));
    }
  });

  it("counts added tokens; is ×4 with a normalizer, and Infinity when unknown characters could fuse into one unk token", async () => {
    const json = JSON.parse(await readFile(join(MODEL, "tokenizer.json"), "utf8")) as { normalizer: unknown; pre_tokenizer: unknown; decoder: unknown; model: Record<string, unknown> };
    const build = (edit: (j: typeof json) => void): Tokenizer => {
      const copy = structuredClone(json);
      edit(copy);
      return Tokenizer.fromJSON(copy, {});
    };
    expect(build((j) => (j.normalizer = { type: "NFKC" })).maxTokenBytes).toBe(4 * tok.maxTokenBytes);
    const marker = "<|a much longer added marker than any token|>"; // an added token only, not in the BPE vocabulary
    const added = build((j) => {
      (j as unknown as { added_tokens: unknown[] }).added_tokens.push({ id: 4096, content: marker, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    });
    expect(added.maxTokenBytes).toBe(Buffer.byteLength(marker));
    expect(added.encode(marker, { addSpecialTokens: false })).toEqual([4096]);
    const long = "ĠandĠtheĠLORDĠsaidĠuntoĠMoses"; // byte-level spelling of " and the LORD said unto Moses": 29 bytes
    const withLong = build((j) => ((j.model.vocab as Record<string, number>)[long] = 4096));
    expect(withLong.maxTokenBytes).toBe(29);
    const notByteLevel = (j: typeof json) => {
      j.pre_tokenizer = { type: "Whitespace" };
      j.decoder = null;
    };
    expect(build(notByteLevel).maxTokenBytes).toBe(Infinity);
    expect(Number.isFinite(build((j) => (notByteLevel(j), (j.model.byte_fallback = true))).maxTokenBytes)).toBe(true);
    expect(build((j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true }] })).maxTokenBytes).toBe(tok.maxTokenBytes);
  });
});

describe("encode matches the reference ids exactly", () => {
  const all = [...llama.prompts, ...bitnet.prompts].map((p) => ({ text: p.prompt, ids: p.ids }));
  it.each([...all, ...cases].map((c) => [JSON.stringify(c.text), c] as const))("%s", (_name, c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.ids.slice(1)); // bos comes only from the template
  });
  it("covers 25 distinct prompts", () => {
    expect(new Set([...all, ...cases].map((c) => c.text)).size).toBe(25);
  });
});

describe("decode matches the reference text exactly", () => {
  it.each([...llama.prompts, ...bitnet.prompts].map((p, i) => [i, p] as const))("greedy continuation %i", (_i, p) => {
    expect(tok.decode(p.greedy_ids)).toBe(p.greedy_text);
    expect(tok.decode(p.ids)).toBe(p.prompt); // bos skipped
  });
  it.each(cases.map((c) => [JSON.stringify(c.text), c] as const))("%s", (_name, c) => {
    expect(tok.decode(c.ids)).toBe(c.decoded);
    expect(tok.decode(c.ids, { skipSpecialTokens: false })).toBe(c.decodedWithSpecial);
    // every prefix, including ones that end mid-character (U+FFFD exactly where the Rust library puts it)
    c.prefixDecodes.forEach((want, k) => expect(tok.decode(c.ids.slice(1, k + 2))).toBe(want));
  });
  it("round-trips text without special-token markup", () => {
    for (const c of cases) if (!c.text.includes("<|")) expect(tok.decode(tok.encode(c.text))).toBe(c.text);
    const extra = ["   ", "\n", "\t\t\n  \r\n", "0", "99 bottles", "Zürich 🇨🇭", "🙂🙃😉", "x\u0000y", "ℌ𝔢𝔩𝔩𝔬"];
    for (const t of extra) expect(tok.decode(tok.encode(t))).toBe(t);
  });
  it("keeps the bos marker when asked to", () => {
    expect(tok.decode([0, ...tok.encode("Amen", { addSpecialTokens: false }), 1], { skipSpecialTokens: false })).toBe(
      "<|begin_of_text|>Amen<|end_of_text|>",
    );
  });
  it("does not clean up spaces before punctuation (as the Rust library)", () => {
    expect(tok.decode(tok.encode("a , b . c ! d ?"))).toBe("a , b . c ! d ?");
    expect(tok.decode(tok.encode("a , b"), { cleanUpSpaces: true })).toBe("a, b");
  });
  it("decodes [] to '' and rejects ids outside the vocabulary", () => {
    expect(tok.decode([])).toBe("");
    expect(() => tok.decode([4096])).toThrow(LlmError);
    expect(() => tok.decode([-1])).toThrow(expect.objectContaining({ code: "VALIDATION" }));
    expect(() => tok.decode([1.5])).toThrow(expect.objectContaining({ code: "VALIDATION" }));
  });
});

describe("fromJSON", () => {
  it("builds the same tokenizer from parsed JSON", async () => {
    const json = JSON.parse(await readFile(join(MODEL, "tokenizer.json"), "utf8")) as unknown;
    const config = JSON.parse(await readFile(join(MODEL, "tokenizer_config.json"), "utf8")) as unknown;
    const t = Tokenizer.fromJSON(json, config);
    expect(t.encode(llama.prompts[1].prompt)).toEqual(llama.prompts[1].ids);
    expect(t.bosId).toBe(0);
    expect(t.eosIds).toEqual([1]); // from tokenizer_config's eos_token alone
  });
  it("collects eos ids from generation_config lists", async () => {
    const json = JSON.parse(await readFile(join(MODEL, "tokenizer.json"), "utf8")) as unknown;
    const t = Tokenizer.fromJSON(json, {}, { generationConfig: { eos_token_id: [1, 2] }, modelConfig: { bos_token_id: 0 } });
    expect(t.eosIds).toEqual([1, 2]);
    expect(t.bosId).toBe(0);
  });
  it("refuses a non-tokenizer with MODEL_LOAD", () => {
    expect(() => Tokenizer.fromJSON({}, {})).toThrow(expect.objectContaining({ code: "MODEL_LOAD", file: "tokenizer.json" }));
    expect(() => Tokenizer.fromJSON({ model: { type: "Nope" } }, {})).toThrow(expect.objectContaining({ code: "MODEL_LOAD" }));
    expect(() => Tokenizer.fromJSON("x", {})).toThrow(LlmError);
  });
});

describe("fromDir with broken files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "actorlm-tok-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names a missing tokenizer.json", async () => {
    await expect(Tokenizer.fromDir(join(dir, "nowhere"))).rejects.toMatchObject({
      code: "MODEL_LOAD",
      file: join(dir, "nowhere", "tokenizer.json"),
      message: expect.stringContaining("tokenizer.json"),
    });
  });
  it("names a truncated tokenizer.json", async () => {
    const text = await readFile(join(MODEL, "tokenizer.json"), "utf8");
    await writeFile(join(dir, "tokenizer.json"), text.slice(0, 1000));
    await expect(Tokenizer.fromDir(dir)).rejects.toMatchObject({ code: "MODEL_LOAD", file: join(dir, "tokenizer.json") });
  });
  it("names a broken tokenizer_config.json, and works without one", async () => {
    await copyFile(join(MODEL, "tokenizer.json"), join(dir, "tokenizer.json"));
    const t = await Tokenizer.fromDir(dir); // no configs at all: no bos / eos known, encoding still exact
    expect(t.encode("Jesus wept.")).toEqual(llama.prompts[3].ids);
    expect(t.bosId).toBeNull();
    await writeFile(join(dir, "tokenizer_config.json"), "{ nope");
    await expect(Tokenizer.fromDir(dir)).rejects.toMatchObject({
      code: "MODEL_LOAD",
      file: join(dir, "tokenizer_config.json"),
    });
  });
});
