/**
 * Non-finite numbers are errors, never silent garbage. Copies of models/kjv-llama (bf16, tied head) and the GPT-2 zoo
 * model (Conv1D weights, read transposed) with one NaN or +inf written into one tensor: loading refuses them with
 * MODEL_LOAD naming the tensor, the element and the value; with `checkWeights: false` (`--no-check-weights`) they
 * load, and a request fails with NON_FINITE naming where the logits broke (position, token id) instead of sampling
 * bos from NaN logits; the model stays Ready (the failure is the weights' numbers, not the worker's memory) and its
 * request's KV blocks go back.
 */
import { cpSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BackendState, InferenceBuilder, ModelHost, type StateChange } from "@actorlm/runtime";
import { LlmEngine, generate, streamingHandler } from "@actorlm/llm";
import { MODEL, REF, rejection, runCli } from "../generation/helpers.js";
import { post, startServer } from "../server/helpers.js";

const GPT2 = new URL("../fixtures/models/zoo-gpt2", import.meta.url).pathname;
const NAN = 0x7fc0; // bfloat16 bit patterns
const INF = 0x7f80;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the model in `from` whose bf16 tensor `name` holds `bits` at element `index` of its data. */
function poisonedCopy(from: string, name: string, index: number, bits: number): string {
  const dir = mkdtempSync(join(tmpdir(), "actorlm-nonfinite-"));
  dirs.push(dir);
  cpSync(from, dir, { recursive: true });
  const file = join(dir, "model.safetensors");
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  expect(header[name].dtype).toBe("BF16");
  const at = 8 + headerLength + header[name].data_offsets[0] + 2 * index;
  const value = Buffer.alloc(2);
  value.writeUInt16LE(bits);
  const fd = openSync(file, "r+");
  writeSync(fd, value, 0, 2, at);
  closeSync(fd);
  return dir;
}

// model.layers.3.mlp.down_proj.weight is [256, 768]: element [17, 300]. Every request runs through it.
const DOWN = "model.layers.3.mlp.down_proj.weight";
const nanDown = () => poisonedCopy(MODEL, DOWN, 17 * 768 + 300, NAN);
// model.embed_tokens.weight is [4096, 256] and doubles as the head: +inf at [2000, 5] makes logit 2000 infinite.
const EMBED = "model.embed_tokens.weight";
const infEmbed = () => poisonedCopy(MODEL, EMBED, 2000 * 256 + 5, INF);

describe("non-finite weights are refused at load", () => {
  it("a NaN in a matrix: MODEL_LOAD naming the tensor, the element and the value", async () => {
    const host = ModelHost.create(LlmEngine, { model: nanDown() });
    const error = await rejection(host.start(), "MODEL_LOAD");
    expect(error.message).toMatch(new RegExp(`^weight "${DOWN}" holds NaN at \\[17, 300\\]`));
    expect(error.message).toContain("checkWeights: false");
    expect(error.file).toMatch(/model\.safetensors$/);
    expect(host.state).toBe(BackendState.Error);
    await host.close();
  });

  it("+inf in the embedding (in-process): MODEL_LOAD naming it", async () => {
    const error = await rejection(LlmEngine.load({ model: infEmbed() }), "MODEL_LOAD");
    expect(error.message).toMatch(new RegExp(`^weight "${EMBED}" holds Infinity at \\[2000, 5\\]`));
  });

  it("a NaN in a weight read transposed (GPT-2's Conv1D layout): MODEL_LOAD naming it", async () => {
    // transformer.h.1.mlp.c_fc.weight is stored [in, out]; element 3 of its data is [0, 3] there (named as stored)
    const dir = poisonedCopy(GPT2, "transformer.h.1.mlp.c_fc.weight", 3, NAN);
    const error = await rejection(LlmEngine.load({ model: dir }), "MODEL_LOAD");
    expect(error.message).toMatch(/^weight "transformer\.h\.1\.mlp\.c_fc\.weight" holds NaN at \[0, 3\]/);
    expect(error.file).toBe(join(dir, "model.safetensors"));
  });

  it("checkWeights must be a boolean (VALIDATION naming it, before any worker starts)", async () => {
    const error = await rejection(LlmEngine.load({ model: MODEL, checkWeights: "no" as unknown as boolean }), "VALIDATION");
    expect(error.field).toBe("checkWeights");
  });
});

describe("with the check skipped, non-finite logits fail the request", () => {
  it("NaN logits: NON_FINITE naming the position, never bos × n; the model stays Ready and frees the request's blocks", async () => {
    const host = ModelHost.create(LlmEngine, { model: nanDown(), checkWeights: false });
    const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
    const changes: StateChange[] = [];
    host.on("state", (change) => changes.push(change));
    try {
      const [p] = REF.prompts;
      for (let i = 0; i < 2; i++) {
        const error = await rejection(generate(inference, { prompt: p.prompt, maxTokens: 8, temperature: 0 }), "NON_FINITE");
        expect(error.message).toMatch(new RegExp(`^logits at position ${p.ids.length - 1} hold NaN \\(token id 0\\)`));
      }
      const ids = await host.call("encode", p.prompt);
      const scored = await rejection(host.call("score", ids), "NON_FINITE");
      expect(scored.message).toMatch(/^logits at position 0 hold NaN/);
      expect(host.state).toBe(BackendState.Ready);
      expect(changes).toEqual([]);
      expect(await host.call("stats")).toMatchObject({ running: 0, queued: 0, usedBlocks: 0 });
    } finally {
      await inference.close();
      await host.close();
    }
  });

  it("over HTTP (+inf in the head's row 2000): 424 NON_FINITE naming token id 2000, and /health stays 200", async () => {
    const running = await startServer({ models: [infEmbed()], engine: { checkWeights: false } });
    try {
      const res = await post(`${running.url}/generate`, { inputs: "And God said", parameters: { max_new_tokens: 5 } });
      expect(res.status).toBe(424);
      expect(res.body).toMatchObject({ code: "NON_FINITE", error_type: "generation" });
      expect(res.body.error).toMatch(/^logits at position \d+ hold (NaN|-?Infinity) \(token id 2000\)/);
      const openai = await post(`${running.url}/v1/completions`, { prompt: "And God said", max_tokens: 5 });
      expect(openai.status).toBe(424);
      expect(openai.body.error).toMatchObject({ code: "NON_FINITE", type: "server_error" });
      expect((await fetch(`${running.url}/health`)).status).toBe(200);
    } finally {
      await running.close();
    }
  });

  it("from the CLI: refused by default, NON_FINITE with --no-check-weights", async () => {
    const dir = nanDown();
    const checked = await runCli(["generate", "--model", dir, "--prompt", "In the beginning", "--max-tokens", "4"]);
    expect(checked.code).not.toBe(0);
    expect(checked.stderr).toMatch(/MODEL_LOAD/);
    expect(checked.stderr).toContain(DOWN);
    const skipped = await runCli(["generate", "--model", dir, "--prompt", "In the beginning", "--max-tokens", "4", "--no-check-weights"]);
    expect(skipped.code).not.toBe(0);
    expect(skipped.stdout).toBe("");
    expect(skipped.stderr).toMatch(/NON_FINITE/);
    expect(skipped.stderr).toMatch(/logits at position \d+ hold NaN/);
  });
});
