/**
 * The engine's options through a real model worker: backend, threads, dtype and SIMD build are honoured and
 * reported by `info`; every dtype generates the reference's greedy text; a model too big for wasm32 memory is
 * refused by name before its weights are read.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelHost } from "@actorlm/runtime";
import { LlamaModel, LlmEngine, generate } from "@actorlm/llm";
import { describe, expect, it } from "vitest";
import { MODEL, REF, hostModel, rejection } from "./helpers.js";

describe("engine options", () => {
  it.each([
    [{ backend: "js" as const }, { backend: "js", threads: 1, simd: "none", dtype: "float32" }],
    [{ backend: "wasm" as const, threads: 1 }, { backend: "wasm", threads: 1, dtype: "float32" }],
    [{ threads: 3, dtype: "bfloat16" as const }, { backend: "wasm", threads: 3, dtype: "bfloat16" }],
  ])("%o is what info reports", async (args, expected) => {
    const hosted = await hostModel(args);
    try {
      const info = await hosted.host.call("info");
      expect(info).toMatchObject(expected);
      if (info.backend === "wasm") expect(["plain", "relaxed"]).toContain(info.simd);
      expect(info.memoryBytes).toBeGreaterThan(info.weightBytesPerToken);
      expect(info.memoryHighWaterBytes).toBeGreaterThanOrEqual(info.memoryBytes);
      expect(["node", "bun", "deno"]).toContain(info.runtime.name);
      expect(info.runtime.version).toBe((process.versions as Record<string, string | undefined>)[info.runtime.name]);
    } finally {
      await hosted.close();
    }
  });

  it.each(["float16", "bfloat16"] as const)("dtype %s generates the reference greedy text", async (dtype) => {
    const hosted = await hostModel({ dtype, threads: 2 });
    try {
      const p = REF.prompts[2];
      const out = await generate(hosted.inference, { prompt: p.prompt, maxTokens: 40, temperature: 0 });
      expect(out.tokenIds).toEqual(p.greedy_ids);
    } finally {
      await hosted.close();
    }
  });

  it("LlamaModel, the engine's old name (deprecated), is the same class and hosts the same worker", async () => {
    expect(LlamaModel).toBe(LlmEngine);
    await using host = await ModelHost.start(LlamaModel, { model: MODEL, threads: 1 });
    expect((await host.call("info")).architecture).toBe("llama");
  });

  it("dtype int8 generates through the worker", async () => {
    const hosted = await hostModel({ dtype: "int8" });
    try {
      const out = await generate(hosted.inference, { prompt: "In the beginning", maxTokens: 12, temperature: 0 });
      expect(out.tokenIds).toHaveLength(12);
      expect(await hosted.host.call("info")).toMatchObject({ dtype: "int8" });
    } finally {
      await hosted.close();
    }
  });

  it("a model too big for wasm32 memory is MODEL_LOAD naming the limit, before any weight is read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "actorlm-huge-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({
      model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 8192, tie_word_embeddings: false,
    }));
    writeFileSync(join(dir, "model.safetensors"), Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}")]));
    const host = ModelHost.create(LlmEngine, { model: dir });
    const error = await rejection(host.start(), "MODEL_LOAD");
    expect(error.message).toMatch(/4 GiB/);
    expect(error.message).toMatch(/float32/);
    await host.close();
  });

  it("the same model through the js backend loads past that check (and fails on the missing weights instead)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "actorlm-huge-js-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({
      model_type: "llama", hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 8192,
    }));
    writeFileSync(join(dir, "model.safetensors"), Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}")]));
    const error = await rejection(LlmEngine.load({ model: dir, backend: "js" }), "MODEL_LOAD");
    expect(error.message).toMatch(/model\.embed_tokens\.weight/);
  });
});

