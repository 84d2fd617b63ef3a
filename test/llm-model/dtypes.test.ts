/**
 * kjv-llama stored as float16, bfloat16, int8 and q4 (on the wasm backend) against float32 and the transformers
 * reference: the largest logit difference over the 4096 last-position logits of prompt 0, the held-out
 * perplexity, and how many of the 40 reference greedy tokens each prompt reproduces before it first differs.
 * kjv-llama's weights are bf16, so bfloat16 storage holds them exactly and must match float32 as closely as
 * float32 matches itself; float16 holds them exactly except those below its normal range; int8 is lossy.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WasmKernels, type WeightFormat } from "@actorlm/tensor";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { argmax, chunkedPerplexity, loadLlama, session } from "./helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const MODEL = join(ROOT, "models/kjv-llama");
const ref = JSON.parse(readFileSync(join(ROOT, "test/fixtures/kjv-llama.json"), "utf8")) as {
  prompts: { ids: number[]; greedy_ids: number[] }[];
  full_last_logits_prompt0: number[];
  heldout0: { ppl: number };
};
const V = 4096;

/**
 * Per dtype: bound on the largest logit difference from the reference, on the perplexity ratio, and on the
 * greedy tokens that must agree on average over the 5 prompts (measured: bfloat16 and float16 8.7e-6 / 9.5e-6,
 * every token; int8 0.84, −2.0 % perplexity, 8, 18, 17, 25 and 1 tokens: activations quantized per row lose
 * the small components of rows with outliers; q4, round-to-nearest 4-bit blocks from the bf16 weights: 3.2,
 * +22.7 % perplexity, 3, 1, 3, 1 and 1 tokens — a 256-wide model has little redundancy to absorb 16 levels per block).
 */
const BOUNDS: Record<Exclude<WeightFormat, "float32" | "ternary">, { logits: number; ppl: number; greedy: number }> = {
  bfloat16: { logits: 1e-3, ppl: 1e-3, greedy: 40 },
  float16: { logits: 1e-3, ppl: 1e-3, greedy: 40 },
  int8: { logits: 1.5, ppl: 0.05, greedy: 10 },
  q4: { logits: 5, ppl: 0.3, greedy: 1 },
};

/** Perplexity of held-out chapter 0 (the scoring LlmEngine does: chunks of 64 with every row's logits). */
function heldoutPpl(model: Llama): number {
  const tok = new Tokenizer(JSON.parse(readFileSync(join(MODEL, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(MODEL, "tokenizer_config.json"), "utf8")));
  const text = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/heldout-chapters.json"), "utf8")) as { chapters: string[] }).chapters[0];
  return chunkedPerplexity(model, tok.encode(text).ids);
}

describe.each(Object.keys(BOUNDS) as (keyof typeof BOUNDS)[])("kjv-llama stored as %s (wasm, 2 threads)", (format) => {
  let model: Llama;
  beforeAll(async () => {
    model = await loadLlama(MODEL, { kernels: await WasmKernels.create({ threads: 2 }), format });
  });
  afterAll(() => model.dispose());

  it("largest difference over prompt 0's last logits, held-out perplexity, and greedy agreement", () => {
    const bound = BOUNDS[format];
    const logits = session(model, 64).forward(ref.prompts[0].ids);
    let worst = 0;
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(logits[i] - ref.full_last_logits_prompt0[i]));
    const ppl = heldoutPpl(model);
    const agree = ref.prompts.map((p) => {
      const seq = session(model, p.ids.length + 40);
      let next = argmax(seq.forward(p.ids));
      let n = 0;
      while (n < 40 && next === p.greedy_ids[n]) {
        n++;
        if (n < 40) next = argmax(seq.forward([next]));
      }
      seq.free();
      return n;
    });
    console.log(`${format}: max |logit diff| ${worst.toExponential(2)}, held-out ppl ${ppl.toFixed(2)} (reference ${ref.heldout0.ppl.toFixed(2)}), greedy tokens agreeing per prompt ${agree.join(", ")} of 40`);
    expect(worst).toBeLessThanOrEqual(bound.logits);
    expect(Math.abs(ppl / ref.heldout0.ppl - 1)).toBeLessThanOrEqual(bound.ppl);
    expect(agree.reduce((a, b) => a + b, 0) / agree.length).toBeGreaterThanOrEqual(bound.greedy);
  });
});
