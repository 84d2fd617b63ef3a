/**
 * Loading a Llama from generated checkpoints: shape checks naming the tensor, missing tensors,
 * dtypes, tied vs untied heads, sharded files, progress reports.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsKernels, SafetensorsFile, type LoadProgress } from "@actorlm/tensor";
import { parseLlamaConfig } from "../../packages/llm/src/models/config.js";
import { Llama } from "../../packages/llm/src/models/llama/model.js";
import { loadLlama, session } from "./helpers.js";
import { buildSafetensors, f32Bytes, randomFloats, tempDir, writeTo, type Entry } from "../tensor/helpers.js";

const CONFIG = {
  model_type: "llama", architectures: ["LlamaForCausalLM"], hidden_size: 8, intermediate_size: 12,
  num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, vocab_size: 16,
  max_position_embeddings: 32, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
  bos_token_id: 0, eos_token_id: 1,
};

/** Every tensor a tiny Llama with CONFIG needs, as name → shape. */
function shapes(untied: boolean): [string, number[]][] {
  const out: [string, number[]][] = [["model.embed_tokens.weight", [16, 8]], ["model.norm.weight", [8]]];
  for (let l = 0; l < 2; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [8]], [`${p}.post_attention_layernorm.weight`, [8]],
      [`${p}.self_attn.q_proj.weight`, [8, 8]], [`${p}.self_attn.k_proj.weight`, [4, 8]],
      [`${p}.self_attn.v_proj.weight`, [4, 8]], [`${p}.self_attn.o_proj.weight`, [8, 8]],
      [`${p}.mlp.gate_proj.weight`, [12, 8]], [`${p}.mlp.up_proj.weight`, [12, 8]], [`${p}.mlp.down_proj.weight`, [8, 12]],
    );
  }
  if (untied) out.push(["lm_head.weight", [16, 8]]);
  return out;
}

/** Random F32 entries for the tiny model; `edit` may change them before writing. */
function entries(untied = false): Entry[] {
  return shapes(untied).map(([name, shape], i) => ({
    name, dtype: "F32", shape, bytes: f32Bytes(randomFloats(shape.reduce((a, b) => a * b, 1), i + 1, 0.5)),
  }));
}

/** Write config + one safetensors file into a fresh directory. */
function modelDir(list: Entry[], config: Record<string, unknown> = CONFIG): string {
  const dir = tempDir();
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeTo(dir, "model.safetensors", buildSafetensors(list));
  return dir;
}

describe("loading a Llama checkpoint", () => {
  it("loads, reports read then convert progress, and runs", async () => {
    const events: LoadProgress[] = [];
    const model = await loadLlama(modelDir(entries()), { onProgress: (p) => events.push(p) });
    expect(events[0].stage).toBe("read");
    const converts = events.filter((e) => e.stage === "convert");
    expect(converts.at(-1)).toEqual({ stage: "convert", done: 20, total: 20, unit: "tensors" });
    const logits = session(model, 3).forward([0, 5, 7]);
    expect(logits.length).toBe(16);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  it("counts the weights it loads for progress: one more when the head is untied", async () => {
    const events: LoadProgress[] = [];
    await loadLlama(modelDir(entries(true), { ...CONFIG, tie_word_embeddings: false }), { onProgress: (p) => events.push(p) });
    const converts = events.filter((e) => e.stage === "convert");
    expect(converts.map((e) => e.done)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(new Set(converts.map((e) => e.total))).toEqual(new Set([21]));
  });

  it("needs kernels from its caller (TypeError naming the option)", async () => {
    const source = SafetensorsFile.fromBytes(buildSafetensors(entries()));
    const config = parseLlamaConfig(CONFIG);
    expect(() => Llama.fromSource(config, source, {} as never)).toThrow(TypeError);
    expect(() => Llama.fromSource(config, source, {} as never)).toThrow(/kernels/);
    const model = Llama.fromSource(config, source, { kernels: new JsKernels() });
    expect(session(model, 4).forward([1, 2]).length).toBe(16);
  });

  it("refuses a weight whose shape the config does not imply, naming it and both shapes", async () => {
    const list = entries();
    const k = list.find((e) => e.name === "model.layers.1.self_attn.k_proj.weight")!;
    k.shape = [8, 4];
    const err = await loadLlama(modelDir(list)).catch((e: Error) => e);
    expect(err).toMatchObject({ code: "MODEL_LOAD" });
    expect((err as Error).message).toContain("model.layers.1.self_attn.k_proj.weight");
    expect((err as Error).message).toContain("[8, 4]");
    expect((err as Error).message).toContain("[4, 8]");
  });

  it("refuses a missing weight by name", async () => {
    const list = entries().filter((e) => e.name !== "model.layers.0.mlp.up_proj.weight");
    await expect(loadLlama(modelDir(list))).rejects.toThrow(/model\.layers\.0\.mlp\.up_proj\.weight/);
    await expect(loadLlama(modelDir(list))).rejects.toMatchObject({ code: "MODEL_LOAD" });
  });

  it("refuses integer weights by name", async () => {
    const list = entries();
    list[1] = { name: "model.norm.weight", dtype: "I32", shape: [8], bytes: new Uint8Array(32) };
    await expect(loadLlama(modelDir(list))).rejects.toThrow(/model\.norm\.weight.*I32/);
  });

  it("refuses an untied config whose checkpoint lacks lm_head.weight", async () => {
    await expect(loadLlama(modelDir(entries(), { ...CONFIG, tie_word_embeddings: false }))).rejects.toThrow(/lm_head\.weight/);
  });

  it("uses lm_head.weight when untied, the embedding when tied", async () => {
    const tied = await loadLlama(modelDir(entries()));
    const untiedSame = entries(true);
    untiedSame.at(-1)!.bytes = untiedSame[0].bytes;           // lm_head = embed_tokens
    const same = await loadLlama(modelDir(untiedSame, { ...CONFIG, tie_word_embeddings: false }));
    const other = await loadLlama(modelDir(entries(true), { ...CONFIG, tie_word_embeddings: false }));
    const ids = [3, 1, 4, 1, 5];
    const a = session(tied, 5).forward(ids);
    expect([...session(same, 5).forward(ids)]).toEqual([...a]);
    expect([...session(other, 5).forward(ids)]).not.toEqual([...a]);
  });

  it("reads BF16 weights and sharded checkpoints to the same model", async () => {
    const list = entries();
    // round every weight to bf16 (truncate the low 16 bits), store once as F32 and once as BF16
    const asF32 = list.map((e) => {
      const u = new Uint32Array(e.bytes.slice().buffer);
      for (let i = 0; i < u.length; i++) u[i] &= 0xffff0000;
      return { ...e, bytes: new Uint8Array(u.buffer) };
    });
    const asBf16 = asF32.map((e) => {
      const u = new Uint32Array(e.bytes.slice().buffer);
      return { ...e, dtype: "BF16", bytes: new Uint8Array(Uint16Array.from(u, (v) => v >>> 16).buffer) };
    });
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), JSON.stringify(CONFIG));
    const half = asBf16.length >> 1;
    writeTo(dir, "model-00001-of-00002.safetensors", buildSafetensors(asBf16.slice(0, half)));
    writeTo(dir, "model-00002-of-00002.safetensors", buildSafetensors(asBf16.slice(half)));
    const weightMap = Object.fromEntries(asBf16.map((e, i) => [e.name, `model-0000${i < half ? 1 : 2}-of-00002.safetensors`]));
    writeTo(dir, "model.safetensors.index.json", JSON.stringify({ weight_map: weightMap }));
    const sharded = await loadLlama(dir);
    const plain = await loadLlama(modelDir(asF32));
    const ids = [2, 7, 11];
    expect([...session(sharded, 3).forward(ids)]).toEqual([...session(plain, 3).forward(ids)]);
  });
});
