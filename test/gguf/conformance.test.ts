/**
 * GGUF conformance on kjv-llama, converted in the test the way llama.cpp's converter does it (test/gguf/writer.ts):
 * an F32 file gives exactly the safetensors model's logits in float32, an F16 one exactly the safetensors model
 * stored as float16 (both round the same bf16 weights to the nearest half); the tokenizer rebuilt from the metadata
 * gives the same ids; Q8_0 and Q4_0 files, stored as int8 and q4 (the defaults for them, which hold their blocks
 * exactly), give the greedy text and the top logits of the same quantized weights dequantized to float32, within the
 * stated tolerances (the int8 activations are all that differs).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GpuKernels } from "@actorlm/gpu";
import { JsKernels, WasmKernels, dequantize, ggmlType, type WeightFormat } from "@actorlm/tensor";
import type { CausalLM } from "../../packages/llm/src/models/causal-lm.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { MODEL, REF } from "../generation/helpers.js";
import { argmax, session } from "../llm-model/helpers.js";
import { convertLlama, convertModel, encodeTensor, type WriteType } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "actorlm-gguf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files: Partial<Record<WriteType | "F16-unpermuted", string>> = {};

beforeAll(async () => {
  for (const type of ["F32", "F16", "Q8_0", "Q4_0"] as const) {
    files[type] = join(dir, `kjv-${type}.gguf`);
    await convertLlama(MODEL, files[type]!, { matrices: type });
  }
  files["F16-unpermuted"] = join(dir, "kjv-unpermuted.gguf");
  await convertLlama(MODEL, files["F16-unpermuted"]!, { matrices: "F16", noPermute: true });
});

async function load(path: string, format?: WeightFormat, wasm = false): Promise<{ model: CausalLM; format: WeightFormat }> {
  const kernels = wasm ? await WasmKernels.create({ threads: 1 }) : new JsKernels();
  const { model, format: stored } = await loadModel(path, { kernels, format, kvCacheTokens: 256 });
  return { model, format: stored };
}

/** Logits of every prompt's last position. */
function lastLogits(model: CausalLM): Float32Array[] {
  return REF.prompts.map((p) => {
    const s = session(model, 128);
    const out = s.forward(p.ids);
    s.free();
    return out;
  });
}

/** Greedy continuation of prompt `i` for `n` tokens. */
function greedy(model: CausalLM, ids: readonly number[], n: number): number[] {
  const s = session(model, ids.length + n + 1);
  let logits = s.forward(ids);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = argmax(logits);
    out.push(next);
    logits = s.forward([next]);
  }
  s.free();
  return out;
}

describe("GGUF files of kjv-llama", () => {
  it("on kernels that store float formats only (the gpu backend, gpu.js cpu mode), a Q4_0 file given no dtype loads as float16", async () => {
    const { model, format } = await loadModel(files.Q4_0!, { kernels: await GpuKernels.create({ mode: "cpu" }), kvCacheTokens: 64 });
    expect(format).toBe("float16");
    expect(model.formats?.float16?.matrices).toBe(43);
    await model.dispose();
  });

  it("F32 gives exactly the safetensors logits in float32, F16 exactly the safetensors model stored as float16", async () => {
    for (const [type, format] of [["F32", "float32"], ["F16", "float16"]] as const) {
      const gguf = await load(files[type]!);
      expect(gguf.format).toBe(format);
      const st = await load(MODEL, format);
      const a = lastLogits(gguf.model), b = lastLogits(st.model);
      for (let i = 0; i < a.length; i++) expect(a[i]).toEqual(b[i]);
      await gguf.model.dispose();
      await st.model.dispose();
    }
  });

  it("given no dtype, each matrix keeps the format nearest its type: a Q8_0 head beside Q4_0 layers is int8", async () => {
    const path = join(dir, "kjv-Q4_0-head-Q8_0.gguf");
    await convertLlama(MODEL, path, {
      matrices: "Q4_0",
      edit: (_, tensors) => {
        const embd = tensors.find((t) => t.name === "token_embd.weight")!;
        const values = new Float32Array(embd.dims[0] * embd.dims[1]);
        dequantize(ggmlType("Q4_0"), embd.data, values.length / 32, values);
        tensors.push({ name: "output.weight", dims: embd.dims, typeId: 8, data: encodeTensor("Q8_0", values) });
      },
    });
    const untied = await load(path, undefined, true), tied = await load(files.Q4_0!, undefined, true);
    expect(untied.format).toBe("q4");
    expect(untied.model.formats?.q4?.matrices).toBe(43);
    expect(untied.model.formats?.int8?.matrices).toBe(1);
    // the head is the embedding's Q4_0 values rounded again to Q8_0's 255 levels: the logits move little, the top
    // token not at all
    const a = lastLogits(untied.model), b = lastLogits(tied.model);
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      for (let v = 0; v < a[i].length; v++) worst = Math.max(worst, Math.abs(a[i][v] - b[i][v]));
      expect(argmax(a[i])).toBe(argmax(b[i]));
    }
    console.log(`Q8_0 head beside Q4_0 layers: largest logit change ${worst.toFixed(3)}`);
    expect(worst).toBeLessThan(0.2);
    await untied.model.dispose();
    await tied.model.dispose();
  });

  it("Llama 3.1/3.2 RoPE scaling, stored as rope_freqs.weight divisors, is found again: exactly the safetensors logits", async () => {
    // kjv-llama with Llama 3.2's llama3 scaling (factor 32, low 1, high 4, original 8192): over head_dim 64 and base
    // 10000 some frequencies are divided by 32, some blended, some kept
    const scaled = join(dir, "kjv-llama3-rope");
    cpSync(MODEL, scaled, { recursive: true, dereference: true });
    const config = JSON.parse(readFileSync(join(scaled, "config.json"), "utf8")) as Record<string, unknown>;
    config.rope_parameters = { rope_type: "llama3", rope_theta: 10000, factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    writeFileSync(join(scaled, "config.json"), JSON.stringify(config));
    const path = join(dir, "kjv-llama3-rope.gguf");
    await convertLlama(scaled, path, { matrices: "F32" });
    const gguf = await load(path), st = await load(scaled, "float32"), plain = await load(files.F32!);
    const a = lastLogits(gguf.model), b = lastLogits(st.model);
    for (let i = 0; i < a.length; i++) expect(a[i]).toEqual(b[i]);
    expect(a[0]).not.toEqual(lastLogits(plain.model)[0]);
    for (const m of [gguf, st, plain]) await m.model.dispose();
  });

  it("without undoing the converter's q/k interleaving the logits differ (the permutation is exercised)", async () => {
    const wrong = await load(files["F16-unpermuted"]!, "float16");
    const right = await load(files.F16!, "float16");
    expect(lastLogits(wrong.model)[0]).not.toEqual(lastLogits(right.model)[0]);
    await wrong.model.dispose();
    await right.model.dispose();
  });

  it("the tokenizer rebuilt from the metadata gives the reference ids and text", async () => {
    const fromGguf = await Tokenizer.fromDir(files.F16!);
    const fromDir = await Tokenizer.fromDir(MODEL);
    for (const p of REF.prompts) expect(fromGguf.encode(p.prompt)).toEqual(p.ids);
    for (const text of ["In the beginning God created the heaven and the earth.", "  spaces\tand\nlines  ", "<|end_of_text|> literal", "ünïcödé 😀 123456"]) {
      expect(fromGguf.encode(text)).toEqual(fromDir.encode(text));
      expect(fromGguf.decode(fromGguf.encode(text))).toBe(fromDir.decode(fromDir.encode(text)));
    }
    expect(fromGguf.bosId).toBe(fromDir.bosId);
    expect([...fromGguf.eosIds]).toEqual([...fromDir.eosIds]);
  });

  // Tolerances: a Q8_0 block stored as int8 and a Q4_0 block stored as q4 are exactly the file's (llama.cpp's
  // quantizers give each block a value of ±127, resp. −8, times its scale), so each differs from its float32
  // dequantization only by the int8 activations of the products.
  it.each([["Q8_0", "int8", 0.6, 16], ["Q4_0", "q4", 0.8, 16]] as const)("%s stored as %s follows its own weights dequantized to float32 (top logit within %f; greedy text agreeing from its first token)", async (type, format, tol, agree) => {
    const q = await load(files[type]!, undefined, true);
    expect(q.format).toBe(format);
    const f = await load(files[type]!, "float32", true);
    const a = lastLogits(q.model), b = lastLogits(f.model);
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      const top = argmax(b[i]);
      worst = Math.max(worst, Math.abs(a[i][top] - b[i][top]));
    }
    expect(worst).toBeLessThan(tol);
    const same = REF.prompts.map((p) => {
      const ga = greedy(q.model, p.ids, agree), gb = greedy(f.model, p.ids, agree);
      const n = ga.findIndex((t, i) => t !== gb[i]);
      return n < 0 ? agree : n;
    });
    console.log(`${type} as ${format}: top logit within ${worst.toFixed(3)} of float32; greedy tokens agreeing per prompt ${same.join(", ")} of ${agree}`);
    expect(same[0]).toBeGreaterThan(0);
    await q.model.dispose();
    await f.model.dispose();
  });
});

/**
 * Other architectures: the zoo models (test/fixtures/models) converted to F32 GGUF files as llama.cpp's converter does
 * for each give exactly the logits of their safetensors folders in float32 (so the mapping of keys, names, fused and
 * transposed tensors is the recipe's own), and the greedy tokens transformers computed.
 */
describe.each(["qwen2", "qwen3", "phi3", "gpt2"] as const)("a GGUF file of zoo-%s", (arch) => {
  const zoo = join(import.meta.dirname, "../fixtures/models", `zoo-${arch}`);
  const ref = JSON.parse(readFileSync(join(import.meta.dirname, `../fixtures/zoo-${arch}.json`), "utf8")) as { prompts: { ids: number[]; greedy_ids: number[] }[] };
  const path = join(dir, `zoo-${arch}.gguf`);
  beforeAll(() => convertModel(zoo, path, { matrices: "F32" }));

  it("maps onto the architecture, gives exactly the safetensors logits and the reference greedy tokens", async () => {
    const gguf = await load(path, undefined, true);
    const st = await load(zoo, "float32", true);
    expect(gguf.format).toBe("float32");
    for (const p of ref.prompts) {
      const a = session(gguf.model, 64), b = session(st.model, 64);
      expect(a.forward(p.ids)).toEqual(b.forward(p.ids));
      a.free();
      b.free();
    }
    const p = ref.prompts[0];
    expect(greedy(gguf.model, p.ids, p.greedy_ids.length)).toEqual(p.greedy_ids);
    await gguf.model.dispose();
    await st.model.dispose();
  });
});
