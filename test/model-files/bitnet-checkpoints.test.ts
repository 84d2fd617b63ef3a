/**
 * BitNet b1.58 checkpoints: the shipped packed (offline) checkpoint holds exactly the online checkpoint's ternary
 * values, with weight_scale = mean |W| rounded to bf16; online, offline `autobitlinear` (outputs × weight_scale) and
 * offline `bitlinear` (outputs ÷ weight_scale) forms of one small model give identical logits; and broken packed
 * tensors, scales and configs are refused with MODEL_LOAD naming the tensor or field (through a model worker too).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ModelHost } from "@actorlm/runtime";
import { LlmEngine } from "@actorlm/llm";
import { JsKernels, SafetensorsFile, bf16BitsToF32, f32ToBf16Bits, ternarize, ternaryScalesOf, type TensorSource } from "@actorlm/tensor";
import { BlockManager } from "../../packages/llm/src/generation/block-manager.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";
import { packedTernary } from "../../packages/llm/src/models/bitnet/packed.js";
import { buildSafetensors, f32Bytes, randomFloats, type Entry } from "../tensor/helpers.js";

const ROOT = join(import.meta.dirname, "../..");
const PACKED = join(ROOT, "models/kjv-bitnet-packed");
const ONLINE = join(ROOT, "test/fixtures/kjv-bitnet");

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

// ---- a small BitNet model: vocab 4096 (the shipped tokenizer's), hidden 64, 2 heads, 1 KV head, MLP 128, 1 layer ----

const H = 64, I = 128, HEAD = 32, VOCAB = 4096;
const LINEARS: [string, number, number][] = [
  ["self_attn.q_proj", 2 * HEAD, H], ["self_attn.k_proj", HEAD, H], ["self_attn.v_proj", HEAD, H], ["self_attn.o_proj", H, 2 * HEAD],
  ["mlp.gate_proj", I, H], ["mlp.up_proj", I, H], ["mlp.down_proj", H, I],
];
/** Every linear's weights are ±S (so mean |W| = S exactly, a power of two: every form of the scale is exact). */
const S = 1 / 32;

function config(quantization: Record<string, unknown> | undefined, edit: (c: Record<string, unknown>) => void = () => undefined): string {
  const c: Record<string, unknown> = {
    architectures: ["BitNetForCausalLM"], model_type: "bitnet", hidden_act: "relu2", hidden_size: H, intermediate_size: I,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: VOCAB, max_position_embeddings: 64,
    rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 1,
  };
  if (quantization !== undefined) c.quantization_config = { quant_method: "bitnet", ...quantization };
  edit(c);
  return JSON.stringify(c);
}

/** The ternary values (each ±1) of linear `l`, [N, K] row-major. */
function values(l: number, N: number, K: number): Int8Array {
  return Int8Array.from(randomFloats(N * K, 100 + l), (v) => (v < 0 ? -1 : 1));
}

/** transformers' packing: byte row i holds rows i + jR (R = N/4) in bits 2j, 2j + 1, as value + 1. */
function pack(q: Int8Array, N: number, K: number): Uint8Array {
  const R = N / 4, out = new Uint8Array(R * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[(n % R) * K + k] |= (q[n * K + k] + 1) << (2 * Math.floor(n / R));
  return out;
}

type Form = "online" | "autobitlinear" | "bitlinear";

/** The small model's tensors in one checkpoint form; `edit` may change any entry before writing. */
function entries(form: Form): Entry[] {
  const out: Entry[] = [{ name: "model.embed_tokens.weight", dtype: "F32", shape: [VOCAB, H], bytes: f32Bytes(randomFloats(VOCAB * H, 1)) }];
  const norm = (name: string, n: number, seed: number) => out.push({ name, dtype: "F32", shape: [n], bytes: f32Bytes(randomFloats(n, seed).map((v) => 1 + 0.3 * v)) });
  const p = "model.layers.0";
  norm(`${p}.input_layernorm.weight`, H, 2);
  norm(`${p}.post_attention_layernorm.weight`, H, 3);
  norm(`${p}.self_attn.attn_sub_norm.weight`, H, 4);
  norm(`${p}.mlp.ffn_sub_norm.weight`, I, 5);
  norm("model.norm.weight", H, 6);
  LINEARS.forEach(([name, N, K], l) => {
    const q = values(l, N, K);
    if (form === "online") {
      out.push({ name: `${p}.${name}.weight`, dtype: "F32", shape: [N, K], bytes: f32Bytes(Float32Array.from(q, (v) => v * S)) });
    } else {
      out.push({ name: `${p}.${name}.weight`, dtype: "U8", shape: [N / 4, K], bytes: pack(q, N, K) });
      out.push({ name: `${p}.${name}.weight_scale`, dtype: "F32", shape: [1], bytes: f32Bytes([form === "autobitlinear" ? S : 1 / S]) });
    }
  });
  return out;
}

/** A model directory: config.json, model.safetensors of `list`, and the shipped tokenizer. */
function modelDir(configJson: string, list: Entry[]): string {
  const dir = mkdtempSync(join(tmpdir(), "actorlm-bitnet-"));
  dirs.push(dir);
  writeFileSync(join(dir, "config.json"), configJson);
  writeFileSync(join(dir, "model.safetensors"), buildSafetensors(list));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) cpSync(join(PACKED, f), join(dir, f));
  return dir;
}

const QUANT: Record<Form, Record<string, string>> = {
  online: { quantization_mode: "online", linear_class: "autobitlinear" },
  autobitlinear: { quantization_mode: "offline", linear_class: "autobitlinear" },
  bitlinear: { quantization_mode: "offline", linear_class: "bitlinear" },
};

/** The small model in `form`, with `edit` applied to its tensors. */
function small(form: Form, edit: (list: Entry[]) => void = () => undefined): string {
  const list = entries(form);
  edit(list);
  return modelDir(config(QUANT[form]), list);
}

function entry(list: Entry[], name: string): Entry {
  const e = list.find((x) => x.name === name);
  if (e === undefined) throw new Error(`no ${name}`);
  return e;
}

/** Logits of `tokens` (all rows) from the model in `dir`, on the reference kernels. */
async function logits(dir: string, tokens: number[]): Promise<Float32Array> {
  const { model } = await loadModel(dir, { kernels: new JsKernels() });
  const kv = new BlockManager(model.kv).allocate(tokens.length);
  if (kv === undefined) throw new Error("no KV room");
  return model.forward([{ tokens, start: 0, blocks: kv.blocks, logits: "all" }]);
}

describe("BitNet checkpoint forms", () => {
  it("the packed kjv-bitnet holds the online checkpoint's ternary values, and weight_scale = bf16(mean |W|)", async () => {
    const online = await SafetensorsFile.open(join(ONLINE, "model.safetensors"));
    const packed: TensorSource = await SafetensorsFile.open(join(PACKED, "model.safetensors"));
    try {
      let worstScale = 0;
      for (let layer = 0; layer < 6; layer++) {
        for (const [name, N, K] of [["self_attn.q_proj", 256, 256], ["self_attn.k_proj", 128, 256], ["self_attn.v_proj", 128, 256], ["self_attn.o_proj", 256, 256], ["mlp.gate_proj", 768, 256], ["mlp.up_proj", 768, 256], ["mlp.down_proj", 256, 768]] as const) {
          const tensor = `model.layers.${layer}.${name}.weight`;
          const w = online.toFloat32(tensor);
          const scales = ternaryScalesOf(w.reduce((s, v) => s + Math.abs(v), 0) / w.length);
          const source = packedTernary(packed, tensor, [N, K], "autobitlinear");
          expect(source.scale, tensor).toBe(bf16BitsToF32(f32ToBf16Bits(scales.scale)));
          worstScale = Math.max(worstScale, Math.abs(source.scale / scales.scale - 1));
          const q = new Int8Array(N * K);
          source.read(0, N, q);
          let differ = 0;
          for (let i = 0; i < w.length; i++) if (q[i] !== ternarize(w[i], scales.inverse)) differ++;
          expect(differ, tensor).toBe(0);
        }
      }
      console.log(`packed weight_scale vs the online mean |W|: largest relative difference ${worstScale.toExponential(2)} (bf16 keeps 8 significant bits: ≤ 2^-8 = 3.9e-3)`);
      expect(worstScale).toBeLessThanOrEqual(2 ** -8);
    } finally {
      online.close();
      packed.close();
    }
  });

  it("online, offline autobitlinear and offline bitlinear forms of one model give identical logits", async () => {
    const tokens = [0, 17, 400, 3, 3, 900, 2047];
    const online = await logits(small("online"), tokens);
    expect(Number.isFinite(online[0])).toBe(true);
    const differences = (other: Float32Array) => other.reduce((n, v, i) => n + (v === online[i] ? 0 : 1), 0);
    expect(differences(await logits(small("autobitlinear"), tokens))).toBe(0);
    expect(differences(await logits(small("bitlinear"), tokens))).toBe(0);
  });

  it("a config without quantization_config defaults to nothing: refused, naming it", async () => {
    await expect(loadModel(modelDir(config(undefined), entries("online")), { kernels: new JsKernels() })).rejects.toMatchObject({ code: "MODEL_LOAD", message: expect.stringMatching(/quantization_config is missing/) });
  });

  it.each([
    ["quantization_mode", { quantization_mode: "dynamic" }, /quantization_mode "dynamic"/],
    ["online with bitlinear", { quantization_mode: "online", linear_class: "bitlinear" }, /online quantization needs linear_class "autobitlinear"/],
    ["use_rms_norm", { quantization_mode: "offline", use_rms_norm: true }, /use_rms_norm/],
    ["quant_method", { quant_method: "gptq" }, /quant_method "gptq"/],
  ])("quantization_config with a bad %s: refused, naming the field", async (_, q, message) => {
    await expect(loadModel(modelDir(config(q), entries("autobitlinear")), { kernels: new JsKernels() })).rejects.toMatchObject({ code: "MODEL_LOAD", message: expect.stringMatching(message) });
  });

  it.each([
    ["hidden_act silu", (c: Record<string, unknown>) => (c.hidden_act = "silu"), /hidden_act "silu"/],
    ["heads × head_dim ≠ hidden_size", (c: Record<string, unknown>) => (c.head_dim = 16), /must equal hidden_size/],
    ["architectures", (c: Record<string, unknown>) => (c.architectures = ["LlamaForCausalLM"]), /architectures/],
  ])("a config with %s: refused, naming it", async (_, edit, message) => {
    await expect(loadModel(modelDir(config(QUANT.autobitlinear, edit), entries("autobitlinear")), { kernels: new JsKernels() })).rejects.toMatchObject({ code: "MODEL_LOAD", message: expect.stringMatching(message) });
  });
});

describe("broken packed tensors are refused with MODEL_LOAD naming the tensor", () => {
  const refused = async (edit: (list: Entry[]) => void, ...parts: (string | RegExp)[]) => {
    const error = await loadModel(small("autobitlinear", edit), { kernels: new JsKernels() }).then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(error?.code).toBe("MODEL_LOAD");
    for (const part of parts) expect(error?.message).toMatch(part);
  };
  const q = "model.layers.0.self_attn.q_proj.weight";

  it("a packed shape that does not match the config", async () => {
    await refused((list) => {
      const e = entry(list, q);
      e.shape = [15, H];
      e.bytes = e.bytes.subarray(0, 15 * H);
    }, q, "[15, 64]", "[64, 64] packed as [16, 64]");
  });

  it("a packed tensor that is not U8", async () => {
    await refused((list) => (entry(list, q).dtype = "I8"), q, /dtype I8/);
  });

  it("a 2-bit field holding 3, with where it is", async () => {
    await refused((list) => (entry(list, "model.layers.0.mlp.down_proj.weight").bytes[5 * I + 7] |= 0b11 << 4), "model.layers.0.mlp.down_proj.weight", "byte [5, 7]", "row 37");
  });

  it("a missing weight_scale", async () => {
    await refused((list) => list.splice(list.indexOf(entry(list, "model.layers.0.self_attn.k_proj.weight_scale")), 1), "model.layers.0.self_attn.k_proj.weight_scale", /missing/);
  });

  it.each([0, -0.5, NaN, Infinity])("a weight_scale of %s", async (value) => {
    await refused((list) => (entry(list, "model.layers.0.mlp.up_proj.weight_scale").bytes = f32Bytes([value])), "model.layers.0.mlp.up_proj.weight_scale", /finite and positive/);
  });

  it("a weight_scale with two elements", async () => {
    await refused((list) => {
      const e = entry(list, "model.layers.0.mlp.up_proj.weight_scale");
      e.shape = [2];
      e.bytes = f32Bytes([S, S]);
    }, "model.layers.0.mlp.up_proj.weight_scale", /one element/);
  });

  it("through a model worker, the code and the tensor's name cross the thread", async () => {
    const dir = small("autobitlinear", (list) => (entry(list, "model.layers.0.self_attn.o_proj.weight").bytes[0] = 0xff));
    const host = ModelHost.create(LlmEngine, { model: dir });
    await expect(host.start()).rejects.toMatchObject({ code: "MODEL_LOAD", message: expect.stringContaining("model.layers.0.self_attn.o_proj.weight") });
    await host.close();
  });
});
