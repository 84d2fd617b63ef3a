/**
 * The architectures beyond the Llama: their configs normalized with transformers' defaults, every option the engine
 * does not implement refused by name (MODEL_LOAD), and the options the zoo checkpoints leave off (soft-capping,
 * GPT-2's other checkpoint naming, Qwen's sliding layers) shown to act.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsKernels, SafetensorsFile } from "@actorlm/tensor";
import { parseGemma3Config } from "../../packages/llm/src/models/gemma3.js";
import { parseGpt2Config } from "../../packages/llm/src/models/gpt2.js";
import { parseMistralConfig } from "../../packages/llm/src/models/mistral.js";
import { parsePhi3Config } from "../../packages/llm/src/models/phi3.js";
import { parseQwen2Config } from "../../packages/llm/src/models/qwen2.js";
import { parseQwen3Config } from "../../packages/llm/src/models/qwen3.js";
import { architectureFor, loadModel } from "../../packages/llm/src/models/registry.js";
import { buildSafetensors, tempDir, type Entry } from "../tensor/helpers.js";
import { session } from "./helpers.js";

const ZOO = join(import.meta.dirname, "../fixtures/models");
const config = (arch: string) => JSON.parse(readFileSync(join(ZOO, `zoo-${arch}`, "config.json"), "utf8")) as Record<string, unknown>;

/** `base` with overrides (undefined deletes a field). */
function edit(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** A copy of zoo-`arch` whose config.json has `overrides`. */
function variant(arch: string, overrides: Record<string, unknown>): string {
  const dir = tempDir();
  for (const f of ["model.safetensors", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(ZOO, `zoo-${arch}`, f), join(dir, f));
  writeFileSync(join(dir, "config.json"), JSON.stringify(edit(config(arch), overrides)));
  return dir;
}

/** Last-position logits of `ids` from the model in `dir`, on the reference kernels. */
async function lastLogits(dir: string, ids: number[]): Promise<Float32Array> {
  const { model } = await loadModel(dir, { kernels: new JsKernels(), kvCacheTokens: 64 });
  return session(model, ids.length).forward(ids);
}

const PARSERS: Record<string, (raw: unknown) => unknown> = {
  qwen2: parseQwen2Config, qwen3: parseQwen3Config, gemma3: parseGemma3Config, phi3: parsePhi3Config, mistral: parseMistralConfig, gpt2: parseGpt2Config,
};

describe("configs normalized with transformers' defaults", () => {
  it("qwen2: q/k/v biases, no sliding layers unless use_sliding_window; then layers from max_window_layers slide", () => {
    expect(parseQwen2Config(config("qwen2"))).toMatchObject({ modelType: "qwen2", headDim: 16, windows: [0, 0], tieWordEmbeddings: true, ropeTheta: 1e6 });
    const sliding = edit(config("qwen2"), { use_sliding_window: true, sliding_window: 8, max_window_layers: 1, layer_types: undefined });
    expect(parseQwen2Config(sliding).windows).toEqual([0, 8]);
  });

  it("qwen3: head_dim of its own, attention bias off by default", () => {
    expect(parseQwen3Config(config("qwen3"))).toMatchObject({ headDim: 32, numHeads: 4, hiddenSize: 64, attentionBias: false });
    expect(parseQwen3Config(edit(config("qwen3"), { head_dim: undefined })).headDim).toBe(128);
  });

  it("gemma3: layer types, two RoPE bases, query_pre_attn_scalar, no caps", () => {
    expect(parseGemma3Config(config("gemma3"))).toMatchObject({
      windows: [16, 16, 0], queryPreAttnScalar: 32, attnSoftcap: 0, finalSoftcap: 0, tieWordEmbeddings: true,
      ropeFull: { theta: 1e6, scaling: { type: "default" } }, ropeSliding: { theta: 1e4, scaling: { type: "default" } },
    });
  });

  it("gemma3: layer types from the sliding window pattern, RoPE in the older spelling", () => {
    const old = edit(config("gemma3"), {
      layer_types: undefined, rope_parameters: undefined, _sliding_window_pattern: undefined, sliding_window_pattern: 2,
      rope_theta: 500000, rope_local_base_freq: 20000, rope_scaling: { rope_type: "linear", factor: 8 },
    });
    expect(parseGemma3Config(old)).toMatchObject({
      windows: [16, 0, 16], ropeFull: { theta: 500000, scaling: { type: "linear", factor: 8 } }, ropeSliding: { theta: 20000 },
    });
  });

  it("phi3: partial rotary from rope_parameters or the top level; no window by default", () => {
    expect(parsePhi3Config(config("phi3"))).toMatchObject({ headDim: 16, rotaryDim: 12, slidingWindow: 0, rmsNormEps: 1e-5 });
    expect(parsePhi3Config(edit(config("phi3"), { rope_parameters: { rope_theta: 10000 }, partial_rotary_factor: 0.5 })).rotaryDim).toBe(8);
    expect(parsePhi3Config(edit(config("phi3"), { sliding_window: 32 })).slidingWindow).toBe(32);
  });

  it("mistral: the window everywhere, 4096 when absent, none when null", () => {
    expect(parseMistralConfig(config("mistral")).slidingWindow).toBe(16);
    expect(parseMistralConfig(edit(config("mistral"), { sliding_window: undefined })).slidingWindow).toBe(4096);
    expect(parseMistralConfig(edit(config("mistral"), { sliding_window: null })).slidingWindow).toBe(0);
  });

  it("gpt2: GPT-2 names, one KV head per head, n_inner 4 × n_embd when null", () => {
    expect(parseGpt2Config(config("gpt2"))).toMatchObject({
      hiddenSize: 64, numHeads: 4, numKvHeads: 4, headDim: 16, intermediateSize: 256, numLayers: 2, maxPositionEmbeddings: 512, layerNormEps: 1e-5,
    });
  });

  it("every zoo config is registered under its model_type", () => {
    for (const [arch, name] of [["qwen2", "qwen2"], ["qwen3", "qwen3"], ["gemma3", "gemma3"], ["phi3", "phi3"], ["mistral", "mistral"], ["gpt2", "gpt2"]]) {
      expect(architectureFor(config(arch).model_type).name).toBe(name);
    }
  });
});

describe("options the engine does not implement are refused by name", () => {
  it.each([
    ["qwen2", { hidden_act: "gelu" }, "hidden_act"],
    ["qwen2", { rope_parameters: { rope_type: "yarn", factor: 4, rope_theta: 1e6 } }, "yarn"],
    ["qwen2", { architectures: ["Qwen2MoeForCausalLM"] }, "Qwen2MoeForCausalLM"],
    ["qwen3", { layer_types: ["full_attention"] }, "layer_types"],
    ["qwen3", { layer_types: ["full_attention", "chunked_attention"] }, "chunked_attention"],
    ["gemma3", { hidden_activation: "gelu" }, "hidden_activation"],
    ["gemma3", { use_bidirectional_attention: true }, "use_bidirectional_attention"],
    ["gemma3", { rope_parameters: { full_attention: { rope_theta: 1e6, rope_type: "default" } } }, "sliding_attention"],
    ["gemma3", { rope_parameters: { full_attention: { rope_theta: 1e6, rope_type: "yarn", factor: 2 }, sliding_attention: { rope_theta: 1e4 } } }, "yarn"],
    ["phi3", { rope_parameters: { rope_type: "longrope", rope_theta: 1e4, short_factor: [1], long_factor: [2] } }, "longrope"],
    ["phi3", { rope_parameters: { rope_theta: 1e4, partial_rotary_factor: 0.4375 } }, "partial_rotary_factor"],
    ["phi3", { hidden_act: "gelu_new" }, "hidden_act"],
    ["mistral", { hidden_act: "relu" }, "hidden_act"],
    ["gpt2", { activation_function: "gelu" }, "activation_function"],
    ["gpt2", { add_cross_attention: true }, "add_cross_attention"],
    ["gpt2", { n_head: 3 }, "n_head"],
    ["qwen3", { quantization_config: { quant_method: "awq", bits: 4 } }, "quantization_config"],
    ["gemma3", { quantization_config: { quant_method: "gptq" } }, "gptq"],
  ] as const)("%s %j", (arch, overrides, what) => {
    let caught: unknown;
    try {
      PARSERS[arch](edit(config(arch), overrides));
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: "MODEL_LOAD" });
    expect((caught as Error).message).toContain(what);
  });
});

describe("options the zoo checkpoints leave off still act", () => {
  const ids = [0, 1144, 260, 2092];

  it("gemma3 final_logit_softcapping caps the logits: cap · tanh(logit / cap)", async () => {
    const plain = await lastLogits(join(ZOO, "zoo-gemma3"), ids);
    const capped = await lastLogits(variant("gemma3", { final_logit_softcapping: 3 }), ids);
    let worst = 0;
    for (let i = 0; i < plain.length; i++) worst = Math.max(worst, Math.abs(capped[i] - 3 * Math.tanh(plain[i] / 3)));
    expect(worst).toBeLessThan(1e-5);
    expect(Math.max(...plain)).toBeGreaterThan(3);
  });

  it("gemma3 attn_logit_softcapping changes the scores (and so the logits)", async () => {
    const plain = await lastLogits(join(ZOO, "zoo-gemma3"), ids);
    const capped = await lastLogits(variant("gemma3", { attn_logit_softcapping: 0.5 }), ids);
    expect(capped.every(Number.isFinite)).toBe(true);
    expect(Math.max(...plain.map((v, i) => Math.abs(v - capped[i])))).toBeGreaterThan(1e-2);
  });

  it("gpt2 checkpoints without the transformer. prefix (GPT2Model saves, the original gpt2 files) load the same", async () => {
    const dir = variant("gpt2", {});
    const file = await SafetensorsFile.open(join(ZOO, "zoo-gpt2", "model.safetensors"));
    const entries: Entry[] = file.names.map((name) => {
      const t = file.tensor(name);
      return { name: name.replace(/^transformer\./, ""), dtype: t.dtype, shape: [...t.shape], bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    });
    file.close();
    writeFileSync(join(dir, "model.safetensors"), buildSafetensors(entries));
    expect(await lastLogits(dir, ids)).toEqual(await lastLogits(join(ZOO, "zoo-gpt2"), ids));
  });

  it("gpt2 scale_attn_by_inverse_layer_idx changes the scores", async () => {
    const plain = await lastLogits(join(ZOO, "zoo-gpt2"), ids);
    const scaled = await lastLogits(variant("gpt2", { scale_attn_by_inverse_layer_idx: true }), ids);
    expect(Math.max(...plain.map((v, i) => Math.abs(v - scaled[i])))).toBeGreaterThan(1e-3);
  });
});
