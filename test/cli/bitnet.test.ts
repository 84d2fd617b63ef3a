/**
 * BitNet b1.58 from the command line (the shipped models/kjv-bitnet-packed, in a child process): `generate` gives the
 * reference's greedy continuation, `bench` reports the ternary matrices' resident bits per weight, and the model's
 * info (through a model worker) says how its weights are stored; dtype ternary on a float Llama is labelled lossy.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ModelHost } from "@actorlm/runtime";
import { LlmEngine, startSequence } from "@actorlm/llm";
import { MODEL, ROOT, runCli } from "../generation/helpers.js";

const BITNET = join(ROOT, "models/kjv-bitnet-packed");
const REF = JSON.parse(readFileSync(join(ROOT, "test/fixtures/kjv-bitnet.json"), "utf8")) as { prompts: { prompt: string; ids: number[]; greedy_ids: number[] }[] };

const cli = (...args: string[]) => runCli(args);

describe("BitNet b1.58 from the CLI", () => {
  it("generate --model models/kjv-bitnet-packed: the reference prompt ids and its first 20 greedy tokens", async () => {
    const [p] = REF.prompts;
    const run = await cli("generate", "--model", BITNET, "--prompt", p.prompt, "--max-tokens", "20", "--temperature", "0", "--json");
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { prompt_ids: number[]; ids: number[] };
    expect(out.prompt_ids).toEqual(p.ids);
    expect(out.ids).toEqual(p.greedy_ids.slice(0, 20));
  });

  it("bench --dtype ternary reports the ternary matrices at ≤ 2.1 bits per weight", async () => {
    const run = await cli("bench", "--model", BITNET, "--dtype", "ternary", "--prompt-tokens", "16", "--gen-tokens", "8", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, number | string>;
    expect(report).toMatchObject({ dtype: "ternary", prompt_tokens: 16, gen_tokens: 8 });
    expect(report.ternary_bits_per_weight).toBeGreaterThanOrEqual(2);
    expect(report.ternary_bits_per_weight).toBeLessThanOrEqual(2.1);
    expect(report.decode_tokens_per_s).toBeGreaterThan(0);
  });
});

describe("info says how the weights are stored", () => {
  it("a BitNet checkpoint: ternary decoder linears (2 bits per weight), embeddings and head in the dtype asked (ternary: bfloat16)", async () => {
    await using host = await ModelHost.start(LlmEngine, { model: BITNET, dtype: "ternary" });
    const info = await host.call("info");
    expect(info).toMatchObject({ architecture: "bitnet", dtype: "ternary" });
    expect(info.weights).toMatch(/^ternary decoder linears \(BitNet b1\.58 offline checkpoint.*embeddings and LM head bfloat16$/);
    expect(info.formats.ternary).toMatchObject({ matrices: 42, values: 6 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 768 * 256) });
    expect(info.formats.bfloat16).toMatchObject({ matrices: 1, values: 4096 * 256 });
  });

  it("dtype ternary on a float Llama: post-training ternarization, labelled lossy", async () => {
    await using host = await ModelHost.start(LlmEngine, { model: MODEL, dtype: "ternary" });
    const info = await host.call("info");
    expect(info).toMatchObject({ architecture: "llama", dtype: "ternary" });
    expect(info.weights).toMatch(/post-training ternarization.*lossy/);
    expect(info.formats.ternary?.matrices).toBe(42);
    const started = await startSequence(host, { prompt: "In the beginning", maxTokens: 2, temperature: 0 });
    expect((await host.call("step", started.id)).tokenId).toBeGreaterThanOrEqual(0);
  });
});

describe("where ternary weights cannot be stored", () => {
  it("the gpu backend refuses a BitNet checkpoint at load: MODEL_LOAD naming dtype ternary and the first ternary matrix", async () => {
    const host = ModelHost.create(LlmEngine, { model: BITNET, backend: "gpu" });
    await expect(host.start()).rejects.toMatchObject({
      code: "MODEL_LOAD", field: "dtype", message: expect.stringMatching(/^dtype ternary: the gpu backend cannot store ternary weights \(model\.layers\.0\.self_attn\.q_proj\.weight\)/),
    });
    await host.close();
  });
});
