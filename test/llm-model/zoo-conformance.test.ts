/**
 * Every architecture against transformers: a small checkpoint of each (test/fixtures/models/zoo-<arch>, bf16, trained
 * briefly on the KJV text with the kjv tokenizer) and what transformers 5.17 computed from it in float32
 * (test/fixtures/zoo-<arch>.json). Prompt ids exact; last-position top-10 logits, their logsumexp and the prompt's
 * log-probabilities within 1e-3; 40 greedy tokens (one per forward, through the KV cache, past the sliding windows
 * of 16) identical — on the default CPU backend (wasm, 2 threads) and on the plain-JS reference.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JsKernels, WasmKernels, type Kernels } from "@actorlm/tensor";
import type { CausalLM } from "../../packages/llm/src/models/causal-lm.js";
import { loadModel, type LoadedModel } from "../../packages/llm/src/models/registry.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { argmax, logsumexp, session, topK } from "./helpers.js";

const FIXTURES = join(import.meta.dirname, "../fixtures");

interface Prompt {
  prompt: string;
  ids: number[];
  last_top10: [number, number][];
  last_logsumexp: number;
  prompt_token_logprobs: number[];
  greedy_ids: number[];
  greedy_text: string;
}

/** Each zoo model: its folder, the architecture the registry must pick, and the reference. */
const ZOO = (["qwen2", "qwen3", "gemma3", "phi3", "mistral", "gpt2"] as const).map((arch) => ({
  arch,
  dir: join(FIXTURES, "models", `zoo-${arch}`),
  ref: JSON.parse(readFileSync(join(FIXTURES, `zoo-${arch}.json`), "utf8")) as { config: Record<string, unknown>; prompts: Prompt[] },
}));

const BACKENDS: { label: string; make: () => Kernels | Promise<Kernels> }[] = [
  { label: "wasm", make: () => WasmKernels.create({ threads: 2 }) },
  { label: "js", make: () => new JsKernels() },
];

/** Largest logit difference seen per architecture and backend, printed at the end (the README's table). */
const worst = new Map<string, number>();
afterAll(() => {
  const rows = [...worst].map(([key, diff]) => `${key}: ${diff.toExponential(2)}`);
  console.log(`largest |logit − transformers| (top-10 logits, logsumexp, prompt log-probs):\n  ${rows.join("\n  ")}`);
});

describe.each(ZOO)("zoo-$arch against transformers", ({ arch, dir, ref }) => {
  it("the registry picks the architecture from config.json; the tokenizer gives the reference prompt ids", async () => {
    const tokenizer = await Tokenizer.fromDir(dir);
    for (const p of ref.prompts) expect(tokenizer.encode(p.prompt)).toEqual(p.ids);
  });

  describe.each(BACKENDS)("$label", ({ label, make }) => {
    let loaded: LoadedModel;
    let model: CausalLM;
    let tokenizer: Tokenizer;
    beforeAll(async () => {
      loaded = await loadModel(dir, { kernels: await make(), kvCacheTokens: 512 });
      model = loaded.model;
      tokenizer = await Tokenizer.fromDir(dir);
    });
    afterAll(() => model.dispose());

    const note = (diff: number) => {
      const key = `${arch} ${label}`;
      worst.set(key, Math.max(worst.get(key) ?? 0, diff));
    };

    it("is loaded by its own architecture", () => {
      expect(loaded.architecture.name).toBe(arch);
      expect(model.config.vocabSize).toBe(ref.config.vocab_size);
    });

    it.each(ref.prompts.map((p, i) => [i, p] as const))("prompt %i: top-10 logits, logsumexp and prompt log-probs within 1e-3", (_, p) => {
      const V = model.config.vocabSize;
      const s = session(model, 64);
      const all = s.forward(p.ids, "all");
      s.free();
      const T = p.ids.length;
      const last = all.subarray((T - 1) * V, T * V);
      expect(topK(last, 10)).toEqual(p.last_top10.map(([id]) => id));
      let diff = 0;
      for (const [id, logit] of p.last_top10) diff = Math.max(diff, Math.abs(last[id] - logit));
      diff = Math.max(diff, Math.abs(logsumexp(last) - p.last_logsumexp));
      for (let t = 1; t < T; t++) {
        const row = all.subarray((t - 1) * V, t * V);
        diff = Math.max(diff, Math.abs(row[p.ids[t]] - logsumexp(row) - p.prompt_token_logprobs[t - 1]));
      }
      note(diff);
      expect(diff).toBeLessThanOrEqual(1e-3);
    });

    it.each(ref.prompts.map((p, i) => [i, p] as const))("prompt %i: 40 greedy tokens, one per forward, identical", (_, p) => {
      const s = session(model, p.ids.length + 40);
      let next = argmax(s.forward(p.ids));
      const out = [next];
      while (out.length < 40) {
        next = argmax(s.forward([next]));
        out.push(next);
      }
      s.free();
      expect(out).toEqual(p.greedy_ids);
      expect(tokenizer.decode(out)).toBe(p.greedy_text);
    });
  });
});
