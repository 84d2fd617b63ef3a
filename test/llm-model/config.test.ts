import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsKernels } from "@actorlm/tensor";
import type { LlmError } from "../../packages/llm/src/errors.js";
import { LLAMA_MODEL_TYPES, loadLlamaConfig, parseLlamaConfig } from "../../packages/llm/src/models/config.js";
import { ropeInvFreq } from "../../packages/llm/src/models/blocks/rotary.js";
import { architectureFor, llamaArchitecture, loadModel } from "../../packages/llm/src/models/registry.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");
const KJV = JSON.parse(readFileSync(join(MODEL, "config.json"), "utf8")) as Record<string, unknown>;

/** A minimal valid raw config with overrides (undefined deletes a field). */
function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_size: 64, intermediate_size: 128,
    num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100,
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

/** The MODEL_LOAD error thrown for a raw config; asserts its code and that the message names `what`. */
function refusal(c: Record<string, unknown>, what: string): void {
  let caught: unknown;
  try {
    parseLlamaConfig(c);
  } catch (e) {
    caught = e;
  }
  expect(caught).toMatchObject({ code: "MODEL_LOAD" });
  expect((caught as Error).message).toContain(what);
}

describe("Llama config normalization", () => {
  it("normalizes kjv-llama's config.json (rope_parameters style)", async () => {
    const c = await loadLlamaConfig(MODEL);
    expect(c).toEqual({
      modelType: "llama", vocabSize: 4096, hiddenSize: 256, intermediateSize: 768, numLayers: 6,
      numHeads: 4, numKvHeads: 2, headDim: 64, rmsNormEps: 1e-5, maxPositionEmbeddings: 1024,
      ropeTheta: 10000, ropeScaling: { type: "default" }, tieWordEmbeddings: true,
    });
  });

  it("reads rope_theta from the top level or from rope_parameters", () => {
    expect(parseLlamaConfig(raw({ rope_theta: 500000 })).ropeTheta).toBe(500000);
    expect(parseLlamaConfig(raw({ rope_parameters: { rope_theta: 123, rope_type: "default" } })).ropeTheta).toBe(123);
    expect(parseLlamaConfig(raw({ rope_theta: 77, rope_scaling: null })).ropeTheta).toBe(77);
    expect(parseLlamaConfig(raw()).ropeTheta).toBe(10000);
  });

  it("fills HF defaults: kv heads = heads, head_dim = hidden / heads, untied head", () => {
    const c = parseLlamaConfig(raw());
    expect(c).toMatchObject({ numKvHeads: 4, headDim: 16, tieWordEmbeddings: false, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048 });
    expect(parseLlamaConfig(raw({ tie_word_embeddings: true })).tieWordEmbeddings).toBe(true);
    expect(parseLlamaConfig(raw({ num_key_value_heads: 2, head_dim: 32 }))).toMatchObject({ numKvHeads: 2, headDim: 32 });
  });

  it("parses linear and llama3 scaling in both spellings", () => {
    expect(parseLlamaConfig(raw({ rope_scaling: { type: "linear", factor: 4 } })).ropeScaling).toEqual({ type: "linear", factor: 4 });
    const llama3 = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(parseLlamaConfig(raw({ rope_theta: 500000, rope_scaling: llama3 })).ropeScaling).toEqual({
      type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192,
    });
    expect(parseLlamaConfig(raw({ rope_parameters: { ...llama3, rope_theta: 500000 } })).ropeTheta).toBe(500000);
  });
});

describe("RoPE inverse frequencies", () => {
  // headDim 8, theta 10000: inv_freq = 1 / 10000^(2i/8) = [1, 0.1, 0.01, 0.001]
  it("default", () => {
    expect([...ropeInvFreq(8, 10000, { type: "default" })]).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
  });

  it("linear divides every frequency by the factor", () => {
    const inv = ropeInvFreq(8, 10000, { type: "linear", factor: 4 });
    [0.25, 0.025, 0.0025, 0.00025].forEach((v, i) => expect(inv[i]).toBeCloseTo(v, 9));
  });

  it("llama3 keeps high frequencies, divides low ones, blends the middle", () => {
    // original 2048, low 1, high 4 → low-freq wavelength 2048, high-freq wavelength 512.
    // wavelengths 2π/inv: 6.28, 62.8 (< 512: kept), 628.3 (blend), 6283 (> 2048: / 8).
    // blend at 628.3185: s = (2048 / 628.3185 - 1) / 3 = 0.7531644; inv = (1 - s)·0.01/8 + s·0.01 = 0.0078401876
    const inv = ropeInvFreq(8, 10000, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 2048 });
    expect(inv[0]).toBeCloseTo(1, 9);
    expect(inv[1]).toBeCloseTo(0.1, 8);
    expect(Math.abs(inv[2] / 0.0078401876 - 1)).toBeLessThan(1e-6);
    expect(inv[3]).toBeCloseTo(0.000125, 10);
  });
});

describe("refusing unsupported configs by name", () => {
  it.each([
    [{ model_type: "gpt2" }, "gpt2"],
    [{ model_type: undefined }, "model_type"],
    [{ architectures: ["GPT2LMHeadModel"] }, "GPT2LMHeadModel"],
    [{ rope_scaling: { rope_type: "yarn", factor: 4 } }, "yarn"],
    [{ rope_parameters: { rope_type: "dynamic", factor: 2, rope_theta: 1 } }, "dynamic"],
    [{ rope_scaling: { type: "linear" } }, "factor"],
    [{ rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }, "original_max_position_embeddings"],
    [{ hidden_act: "gelu" }, "gelu"],
    [{ attention_bias: true }, "attention_bias"],
    [{ mlp_bias: true }, "mlp_bias"],
    [{ quantization_config: { quant_method: "bitsandbytes", load_in_4bit: true } }, "quantization_config"],
    [{ hidden_size: undefined }, "hidden_size"],
    [{ vocab_size: undefined }, "vocab_size"],
    [{ num_hidden_layers: 0 }, "num_hidden_layers"],
    [{ num_key_value_heads: 3 }, "num_key_value_heads"],
    [{ rms_norm_eps: -1 }, "rms_norm_eps"],
    [{ model_type: "mistral", architectures: ["MistralForCausalLM"] }, "mistral"],
  ])("%j", (overrides, what) => refusal(raw(overrides), what));

  it("a config that is not an object, and a directory without config.json", async () => {
    refusal(null as unknown as Record<string, unknown>, "not a JSON object");
    await expect(loadLlamaConfig(join(MODEL, "nope"))).rejects.toMatchObject({ code: "MODEL_LOAD" });
  });
});

describe("architecture registry", () => {
  it("finds llama (and bitnet) by model_type and names unknown ones", () => {
    expect(architectureFor(KJV.model_type).name).toBe("llama");
    expect(architectureFor("mistral").name).toBe("mistral");
    expect(architectureFor("bitnet").name).toBe("bitnet");
    expect(llamaArchitecture.modelTypes).toEqual(Object.keys(LLAMA_MODEL_TYPES));
    expect(() => architectureFor("mamba")).toThrow(/mamba/);
    expect(() => architectureFor("mamba")).toThrow(expect.objectContaining({ code: "MODEL_LOAD" }));
  });

  it("loadModel parses config.json with the architecture's parser and hands it to its loader", async () => {
    const { architecture, rawConfig, model } = await loadModel(MODEL, { kernels: new JsKernels() });
    expect(architecture).toBe(llamaArchitecture);
    expect(rawConfig).toEqual(KJV);
    expect(model.config).toEqual(parseLlamaConfig(KJV, "config.json"));
  });

  it("loadModel refuses an unregistered model_type or a config that is not an object, naming config.json", async () => {
    for (const [config, what] of [[{ ...KJV, model_type: "t5" }, '"t5"'], [[1, 2], "not a JSON object"]] as const) {
      const dir = mkdtempSync(join(tmpdir(), "actorlm-config-"));
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
      const err = await loadModel(dir, { kernels: new JsKernels() }).catch((e: LlmError) => e);
      expect(err).toMatchObject({ code: "MODEL_LOAD", file: join(dir, "config.json") });
      expect((err as Error).message).toContain(what);
    }
  });
});
