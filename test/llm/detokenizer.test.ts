import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { StreamingDetokenizer, type DetokenizerSource } from "../../packages/llm/src/generation/detokenizer.js";
import { StopMatcher } from "../../packages/llm/src/generation/stop.js";
import { Rng } from "../../packages/llm/src/sampling/rng.js";
import { EMBEDDED_MODEL_DIR } from "../../packages/llm/src/embedded-model.js";

type RefPrompt = { prompt: string; ids: number[]; greedy_ids: number[]; greedy_text: string };
const llama = JSON.parse(await readFile("test/fixtures/kjv-llama.json", "utf8")) as { prompts: RefPrompt[] };
const bitnet = JSON.parse(await readFile("test/fixtures/kjv-bitnet-tokens.json", "utf8")) as { prompts: RefPrompt[] };
const cases = (JSON.parse(await readFile("test/fixtures/tokenizer-cases.json", "utf8")) as { cases: { text: string }[] }).cases;
const TEXTS = [
  ...cases.map((c) => c.text),
  "👨‍👩‍👧‍👦🇯🇵🏳️‍🌈 ok",
  "naïve café — “quoted” … ½ ℃ ﬁ",
  "𝔊𝔬𝔡 𝕊𝕒𝕚𝕕 🙏🏿",
  "עברית العربية हिन्दी 한국어",
];

let tok: Tokenizer;
beforeAll(async () => {
  tok = await Tokenizer.fromDir(EMBEDDED_MODEL_DIR);
});

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Stream ids one by one; returns the deltas (the flush last). */
function stream(source: DetokenizerSource, ids: readonly number[], context?: number[]): string[] {
  const d = new StreamingDetokenizer(source, { context });
  const deltas = ids.map((id) => d.push(id));
  deltas.push(d.flush());
  return deltas;
}

/** Assert the streaming invariants for `ids`. */
function check(ids: number[], inputHadReplacement = false): void {
  const deltas = stream(tok, ids);
  expect(deltas.join("")).toBe(tok.decode(ids));
  for (const delta of deltas) {
    expect(LONE_SURROGATE.test(delta)).toBe(false);
    if (!inputHadReplacement) expect(delta).not.toContain("\uFFFD");
  }
}

/** The byte-level BPE token for one raw byte (GPT-2's bytes_to_unicode mapping). */
function byteToken(b: number): number {
  const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let ch = b;
  if (!printable) {
    let n = 0;
    for (let x = 0; x < b; x++) if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    ch = 256 + n;
  }
  const id = tok.tokenToId(String.fromCodePoint(ch));
  if (id === undefined) throw new Error(`no token for byte ${b}`);
  return id;
}

describe("StreamingDetokenizer", () => {
  it.each([...llama.prompts, ...bitnet.prompts].map((p, i) => [i, p] as const))(
    "streams reference greedy continuation %i exactly",
    (_i, p) => {
      check(p.greedy_ids);
      expect(stream(tok, p.greedy_ids).join("")).toBe(p.greedy_text);
      // with the prompt as decoding context the continuation is the same
      expect(stream(tok, p.greedy_ids, p.ids).join("")).toBe(p.greedy_text);
    },
  );

  it.each(TEXTS.map((t) => [JSON.stringify(t), t] as const))("streams %s token by token", (_name, text) => {
    check(tok.encode(text, { addSpecialTokens: false }), text.includes("\uFFFD"));
  });

  it("streams characters split into single-byte tokens without breaking them", () => {
    const text = "a€😀é中🇺🇸b";
    const ids = [...new TextEncoder().encode(text)].map(byteToken);
    const deltas = stream(tok, ids);
    expect(deltas.join("")).toBe(text);
    expect(deltas.filter((d) => d.length > 0)).toEqual(["a", "€", "😀", "é", "中", "🇺", "🇸", "b"]);
  });

  it("keeps the invariant on random byte streams, invalid UTF-8 included", () => {
    const rng = new Rng(2718);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + (rng.nextU32() % 24);
      // bias towards bytes that start / continue multi-byte sequences
      const pool = [0x41, 0x20, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xff, 0x80];
      const ids = Array.from({ length: n }, () => byteToken(pool[rng.nextU32() % pool.length]));
      const deltas = stream(tok, ids);
      expect(deltas.join("")).toBe(tok.decode(ids));
      for (const delta of deltas) expect(LONE_SURROGATE.test(delta)).toBe(false);
    }
  });

  it("emits no text for special tokens (eos, bos) unless asked", () => {
    const ids = [0, ...tok.encode("Amen.", { addSpecialTokens: false }), 1];
    expect(stream(tok, ids).join("")).toBe("Amen.");
    const d = new StreamingDetokenizer(tok, { skipSpecialTokens: false });
    expect(ids.map((id) => d.push(id)).join("") + d.flush()).toBe("<|begin_of_text|>Amen.<|end_of_text|>");
  });

  it("feeds a StopMatcher: the streamed text ends just before the stop string", () => {
    for (const p of llama.prompts) {
      for (const stop of ["\n", "LORD", "the "]) {
        const d = new StreamingDetokenizer(tok);
        const m = new StopMatcher([stop]);
        let out = "";
        let stopped = false;
        for (const id of p.greedy_ids) {
          const r = m.push(d.push(id));
          out += r.emit;
          if ((stopped = r.stopped)) break;
        }
        if (!stopped) out += m.push(d.flush()).emit + m.flush();
        const at = p.greedy_text.indexOf(stop);
        expect(out).toBe(at >= 0 ? p.greedy_text.slice(0, at) : p.greedy_text);
      }
    }
  });

  it("decodes a bounded window per token (O(1) per token)", () => {
    let longest = 0;
    const counting: DetokenizerSource = {
      decode: (ids, o) => {
        longest = Math.max(longest, ids.length);
        return tok.decode(ids, o);
      },
      isSpecial: (id) => tok.isSpecial(id),
    };
    const text = llama.prompts.map((p) => p.greedy_text).join(" 😀 café ").repeat(20);
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(2000);
    expect(stream(counting, ids).join("")).toBe(text);
    expect(longest).toBeLessThanOrEqual(8);
  });
});
