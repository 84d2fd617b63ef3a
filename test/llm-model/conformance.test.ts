/**
 * Golden tests against what Hugging Face transformers computed in float32 from the same bf16 weights
 * (test/fixtures/kjv-llama.json). Weights are upcast to float32. Tolerances: 1e-3 on logits and
 * log-probabilities, exact greedy tokens, 1e-4 between prefill and token-by-token, 0.1 % on perplexity.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GpuKernels, type AdapterChoice } from "@actorlm/gpu";
import { JsKernels, WasmKernels, type Kernels } from "@actorlm/tensor";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { argmax, loadLlama, logsumexp, session, topK } from "./helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const MODEL = join(ROOT, "models/kjv-llama");

interface Prompt {
  prompt: string;
  ids: number[];
  last_top10: [number, number][];
  last_logsumexp: number;
  prompt_token_logprobs: number[];
  greedy_ids: number[];
}
const ref = JSON.parse(readFileSync(join(ROOT, "test/fixtures/kjv-llama.json"), "utf8")) as {
  prompts: Prompt[];
  full_last_logits_prompt0: number[];
  heldout0: { n_tokens: number; mean_nll: number; ppl: number };
};

const V = 4096;

const webgpu = process.env.ACTORLM_TEST_WEBGPU as AdapterChoice | undefined;

/**
 * Every backend the conformance checks run on: the reference, wasm on one and two threads, and — where
 * ACTORLM_TEST_WEBGPU names an adapter kind ("hardware", or "any") — the gpu backend on WebGPU.
 */
const BACKENDS: { label: string; make: () => Kernels | Promise<Kernels> }[] = [
  { label: "js", make: () => new JsKernels() },
  { label: "wasm, 1 thread", make: () => WasmKernels.create({ threads: 1 }) },
  { label: "wasm, 2 threads", make: () => WasmKernels.create({ threads: 2 }) },
  ...(webgpu === undefined ? [] : [{ label: `gpu, WebGPU (${webgpu} adapter)`, make: () => GpuKernels.create({ adapter: webgpu }) }]),
];

describe.each(BACKENDS)("kjv-llama against transformers, $label", ({ make }) => {
  let model: Llama;
  beforeAll(async () => {
    model = await loadLlama(MODEL, { kernels: await make() });
  });
  afterAll(() => model.dispose());

  it("loads the config", () => {
    expect(model.config).toMatchObject({ numLayers: 6, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: V, tieWordEmbeddings: true });
  });

  it("matches the full last-position logits of prompt 0 within 1e-3", () => {
    const logits = session(model, 64).forward(ref.prompts[0].ids);
    let worst = 0;
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(logits[i] - ref.full_last_logits_prompt0[i]));
    console.log(`prompt 0 full logits: max |diff| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3);
  });

  it.each(ref.prompts.map((p, i) => [i, p] as const))("prompt %i: top-10, logsumexp and prompt log-probs within 1e-3", (_, p) => {
    const all = session(model, 64).forward(p.ids, "all");
    const T = p.ids.length;
    const last = all.subarray((T - 1) * V, T * V);
    expect(topK(last, 10)).toEqual(p.last_top10.map(([id]) => id));
    for (const [id, logit] of p.last_top10) expect(Math.abs(last[id] - logit)).toBeLessThanOrEqual(1e-3);
    expect(Math.abs(logsumexp(last) - p.last_logsumexp)).toBeLessThanOrEqual(1e-3);
    for (let t = 1; t < T; t++) {
      const row = all.subarray((t - 1) * V, t * V);
      const logprob = row[p.ids[t]] - logsumexp(row);
      expect(Math.abs(logprob - p.prompt_token_logprobs[t - 1])).toBeLessThanOrEqual(1e-3);
    }
  });

  it.each(ref.prompts.map((p, i) => [i, p] as const))("prompt %i: 40 greedy tokens, one token per forward, identical", (_, p) => {
    const seq = session(model, p.ids.length + 40);
    let next = argmax(seq.forward(p.ids));
    const out = [next];
    while (out.length < 40) {
      next = argmax(seq.forward([next]));
      out.push(next);
    }
    expect(out).toEqual(p.greedy_ids);
    expect(seq.kv.length).toBe(p.ids.length + 39);
  });

  it("prefill all at once equals token by token within 1e-4", () => {
    const ids = [...ref.prompts[1].ids, ...ref.prompts[1].greedy_ids.slice(0, 12)];
    const prefill = session(model, 32).forward(ids, "all");
    const seq = session(model, 32);
    let worst = 0;
    ids.forEach((id, t) => {
      const row = seq.forward([id]);
      for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(row[i] - prefill[t * V + i]));
    });
    console.log(`prefill vs incremental: max |diff| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it("held-out chapter 0 perplexity within 0.1 %", () => {
    const tokenizer = new Tokenizer(
      JSON.parse(readFileSync(join(MODEL, "tokenizer.json"), "utf8")),
      JSON.parse(readFileSync(join(MODEL, "tokenizer_config.json"), "utf8")),
    );
    const text = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/heldout-chapters.json"), "utf8")) as { chapters: string[] }).chapters[0];
    const ids = tokenizer.encode(text).ids;
    expect(ids[0]).toBe(0);
    expect(ids.length).toBe(ref.heldout0.n_tokens);
    const t0 = performance.now();
    const seq = session(model, ids.length);
    const rows = model.maxLogitRows;
    const all = new Float32Array(ids.length * V);
    for (let from = 0; from < ids.length; from += rows) all.set(seq.forward(ids.slice(from, from + rows), "all"), from * V);
    const ms = performance.now() - t0;
    let nll = 0;
    for (let t = 1; t < ids.length; t++) {
      const row = all.subarray((t - 1) * V, t * V);
      nll -= row[ids[t]] - logsumexp(row);
    }
    const meanNll = nll / (ids.length - 1);
    const ppl = Math.exp(meanNll);
    console.log(`heldout0: ppl ${ppl.toFixed(3)} vs ${ref.heldout0.ppl.toFixed(3)}, mean NLL ${meanNll.toFixed(6)} vs ${ref.heldout0.mean_nll.toFixed(6)}, forward ${ms.toFixed(0)} ms`);
    expect(Math.abs(ppl / ref.heldout0.ppl - 1)).toBeLessThanOrEqual(1e-3);
  });
});

// The gpu backend's kernels in gpu.js's cpu mode (what CI can run; slow, so a small part of the checks above).
describe("kjv-llama against transformers, gpu backend in gpu.js's cpu mode (a few prompts and tokens)", () => {
  let model: Llama;
  beforeAll(async () => {
    model = await loadLlama(MODEL, { kernels: await GpuKernels.create({ mode: "cpu" }) });
  });
  afterAll(() => model.dispose());

  it("matches the full last-position logits of prompt 0 within 1e-3", () => {
    const logits = session(model, 64).forward(ref.prompts[0].ids);
    let worst = 0;
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(logits[i] - ref.full_last_logits_prompt0[i]));
    console.log(`gpu (cpu mode), prompt 0 full logits: max |diff| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3);
  });

  it.each([0, 1].map((i) => [i, ref.prompts[i]] as const))("prompt %i: top-10 and prompt log-probs within 1e-3, then 8 greedy tokens identical", (_, p) => {
    const seq = session(model, p.ids.length + 8);
    const all = seq.forward(p.ids, "all");
    const T = p.ids.length;
    const last = all.subarray((T - 1) * V, T * V);
    expect(topK(last, 10)).toEqual(p.last_top10.map(([id]) => id));
    for (let t = 1; t < T; t++) {
      const row = all.subarray((t - 1) * V, t * V);
      expect(Math.abs(row[p.ids[t]] - logsumexp(row) - p.prompt_token_logprobs[t - 1])).toBeLessThanOrEqual(1e-3);
    }
    let next = argmax(last);
    const out = [next];
    while (out.length < 8) {
      next = argmax(seq.forward([next]));
      out.push(next);
    }
    expect(out).toEqual(p.greedy_ids.slice(0, 8));
  });
});
