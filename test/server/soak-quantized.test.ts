/**
 * Soak of the quantized kernels through a real server over loopback (what `actorlm serve --dtype int8` runs): kjv-llama
 * stored as int8, and the packed BitNet model (ternary linears, bfloat16 head), each under 32 clients that send prompts
 * of random lengths (1–500 tokens) for 20 s. With continuous batching the rows of every step change; the int8 and
 * ternary products used to take new memory for each new row count until the 4 GiB wasm memory ran out. Every request
 * must succeed with exactly the text its prompt gets when it runs alone (greedy), and the kernels' high-water mark
 * must not move during the soak.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@actorlm/llm";
import { describe, expect, it } from "vitest";
import { seededUniform } from "../seeded.js";
import { post, startServer } from "./helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const CLIENTS = 32;
const SOAK_MS = 20_000;
const MAX_TOKENS = 4;
/** Distinct prompts the clients draw from (each runs alone first, for its reference). */
const PROMPTS = 40;
const MAX_PROMPT_TOKENS = 500;
const NAME = "soak";

/**
 * PROMPTS texts of 1..500 tokens, shortest first (so their runs alone bring a new, larger row count each time, the
 * history that used to exhaust the memory): random stretches of held-out KJV chapters, cut by token.
 */
async function prompts(dir: string): Promise<string[]> {
  const tokenizer = await Tokenizer.fromDir(dir);
  const chapters = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/heldout-chapters.json"), "utf8")) as { chapters: string[] }).chapters;
  const ids = tokenizer.encode(chapters.join("\n"), { addSpecialTokens: false });
  const random = seededUniform(11);
  const lengths = Array.from({ length: PROMPTS }, (_, i) => (i === 0 ? 1 : i === 1 ? MAX_PROMPT_TOKENS : 1 + Math.floor(random() * MAX_PROMPT_TOKENS)));
  return lengths.sort((a, b) => a - b).map((length) => {
    const from = Math.floor(random() * (ids.length - length));
    return tokenizer.decode(ids.slice(from, from + length)) || "And";
  });
}

/** One greedy completion: its status and text (the body's error when it failed). */
async function complete(url: string, prompt: string): Promise<{ status: number; text: string }> {
  const res = await post(`${url}/v1/completions`, { model: NAME, prompt, max_tokens: MAX_TOKENS, temperature: 0 });
  return { status: res.status, text: res.status === 200 ? (res.body.choices[0].text as string) : JSON.stringify(res.body) };
}

describe.each([
  ["kjv-llama, dtype int8", "models/kjv-llama", "int8"],
  ["kjv-bitnet-packed, dtype ternary", "models/kjv-bitnet-packed", "ternary"],
] as const)("soak through the server: %s", (_label, model, dtype) => {
  it(`${CLIENTS} clients, random prompt lengths 1–${MAX_PROMPT_TOKENS} tokens, ${SOAK_MS / 1000} s: no error, every output as its prompt's alone`, async () => {
    const dir = join(ROOT, model);
    const texts = await prompts(dir);
    const running = await startServer({ models: [{ name: NAME, dir }], engine: { dtype }, maxConcurrent: CLIENTS });
    try {
      const alone: string[] = [];
      for (const prompt of texts) {                          // one at a time, shortest first
        const r = await complete(running.url, prompt);
        expect(r.status, r.text).toBe(200);
        alone.push(r.text);
      }
      const host = running.server.models.get(NAME).host;
      const before = await host.call("info");

      const random = seededUniform(5);
      const end = Date.now() + SOAK_MS;
      const failures: string[] = [];
      let served = 0;
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (Date.now() < end) {
          const k = Math.floor(random() * PROMPTS);
          const r = await complete(running.url, texts[k]);
          if (r.status === 200 && r.text === alone[k]) served++;
          else failures.push(`prompt ${k}: ${r.status} ${JSON.stringify(r.text)}, alone ${JSON.stringify(alone[k])}`);
        }
      }));
      expect(failures.slice(0, 5), `${failures.length} of ${served + failures.length} requests failed`).toEqual([]);
      expect(served).toBeGreaterThanOrEqual(CLIENTS);

      const after = await host.call("info");
      expect(after.memoryHighWaterBytes).toBe(before.memoryHighWaterBytes);
      expect(await host.call("activeSequences")).toBe(0);
      for (const k of [0, PROMPTS - 1]) expect(await complete(running.url, texts[k])).toEqual({ status: 200, text: alone[k] });
    } finally {
      await running.close();
    }
  }, 240_000);
});
