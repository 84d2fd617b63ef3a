/**
 * Broken copies of models/kjv-llama, loaded in a real worker: each is refused at build() with MODEL_LOAD and a
 * message naming what is wrong (file, tensor and shapes, model type); settings the engine cannot honour are refused
 * by name (MODEL_LOAD), bad arguments before any worker starts (VALIDATION); a failed load leaves the process, and a
 * good model host, working.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BackendConfig, BackendState, InferenceBuilder, ModelHost, type ErrorCode, type InferenceError } from "@actorlm/runtime";
import { LlmEngine, streamingHandler, type LlmEngineArgs } from "@actorlm/llm";
import { MODEL, REF, rejection } from "../generation/helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of the reference model, broken by `edit`. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "actorlm-broken-"));
  dirs.push(dir);
  cpSync(MODEL, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Edit `dir/config.json`. */
function editConfig(dir: string, edit: (config: Record<string, unknown>) => void): void {
  const path = join(dir, "config.json");
  const config = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  edit(config);
  writeFileSync(path, JSON.stringify(config, null, 2));
}

/** Builds a streaming inference over a host of `args`; expects `code`, checks the host ends in Error; returns the error. */
async function refused(args: LlmEngineArgs, code: ErrorCode): Promise<InferenceError> {
  const host = ModelHost.create(LlmEngine, args);
  const error = await rejection(new InferenceBuilder().withModel(host).build(streamingHandler), code);
  expect(host.state).toBe(BackendState.Error);
  expect(host.error?.code).toBe(code);
  await host.close();
  return error;
}

describe("broken model files are refused at load, by name", () => {
  it("model.safetensors truncated inside the data: MODEL_LOAD naming the file", async () => {
    const dir = brokenCopy((d) => truncateSync(join(d, "model.safetensors"), statSync(join(d, "model.safetensors")).size - 1000));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain(join(dir, "model.safetensors"));
    expect(error.message).toMatch(/truncated/);
  });

  it("model.safetensors truncated inside its header: MODEL_LOAD naming the file", async () => {
    const dir = brokenCopy((d) => truncateSync(join(d, "model.safetensors"), 100));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain(join(dir, "model.safetensors"));
  });

  it("a hidden_size the weights do not have: MODEL_LOAD naming a tensor and both shapes", async () => {
    const dir = brokenCopy((d) => editConfig(d, (c) => (c.hidden_size = 128)));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain("model.embed_tokens.weight");
    expect(error.message).toContain("[4096, 256]"); // in the file
    expect(error.message).toContain("[4096, 128]"); // implied by the config
  });

  it("a missing tokenizer.json: MODEL_LOAD naming it", async () => {
    const dir = brokenCopy((d) => unlinkSync(join(d, "tokenizer.json")));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain(join(dir, "tokenizer.json"));
  });

  it('model_type "t5" (not registered): MODEL_LOAD naming it', async () => {
    const dir = brokenCopy((d) => editConfig(d, (c) => (c.model_type = "t5")));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain('"t5"');
  });

  it("a directory that does not exist: MODEL_LOAD naming config.json", async () => {
    const error = await refused({ model: "/nonexistent/kjv" }, "MODEL_LOAD");
    expect(error.message).toContain("/nonexistent/kjv/config.json");
  });
});

describe("load arguments and settings the engine cannot honour", () => {
  // One code for one fault, in-process and through a host alike: a setting the engine or the model cannot honour
  // is MODEL_LOAD naming it (as `field` and in the message); malformed arguments are VALIDATION, refused on the
  // caller's thread before any worker starts.
  const UNSUPPORTED: [Partial<LlmEngineArgs>, string, RegExp][] = [
    [{ device: "gpu", dtype: "ternary" }, "dtype", /^dtype ternary: the gpu backend stores float32, float16 or bfloat16/],
    [{ device: "cuda:1" }, "device", /^device cuda:1: WebGPU exposes one high-performance adapter/],
    [{ device: "gpu", backend: "wasm" }, "backend", /^backend wasm: runs on the cpu, not on device "gpu"/],
    [{ device: "gpu", dtype: "int8" }, "dtype", /^dtype int8: the gpu backend stores float32, float16 or bfloat16/],
    [{ backend: "gpu", dtype: "int8" }, "dtype", /^dtype int8: the gpu backend stores float32, float16 or bfloat16/],
    [{ device: "auto", backend: "js" }, "backend", /^backend js: leave it unset with device "auto"/],
    [{ flashAttention: true }, "flashAttention", /^flashAttention true: no fused attention kernel/],
    [{ maxSequenceLength: 2048 }, "maxSequenceLength", /maxSequenceLength 2048 exceeds the model's max_position_embeddings 1024/],
  ];

  it.each(UNSUPPORTED)("%o: MODEL_LOAD naming %s, in-process and through a host", async (args, field, message) => {
    const direct = await rejection(LlmEngine.load({ model: MODEL, ...args }), "MODEL_LOAD");
    expect(direct.field).toBe(field);
    expect(direct.message).toMatch(message);
    const hosted = await refused({ model: MODEL, ...args }, "MODEL_LOAD");
    expect(hosted.field).toBe(field);
    expect(hosted.message).toMatch(message);
  });

  // Where there is no GPU (CI): a GPU device is MODEL_LOAD naming it, never a silent fall back to the cpu.
  it.skipIf(process.env.ACTORLM_TEST_WEBGPU !== undefined).each(["gpu", "cuda:0"] as const)("device %s with no WebGPU adapter: MODEL_LOAD naming the device", async (device) => {
    const direct = await rejection(LlmEngine.load({ model: MODEL, device }), "MODEL_LOAD");
    expect(direct.field).toBe("device");
    expect(direct.message).toMatch(new RegExp(`^device ${device}: (no WebGPU adapter|the only WebGPU adapter is a software one|the webgpu package)`));
  });

  it.each<[string, unknown, string]>([
    ["no arguments", undefined, "args"],
    ["a number", 42, "args"],
    ["an empty model path", { model: "" }, "model"],
    ["an unknown dtype", { model: MODEL, dtype: "float64" }, "dtype"],
    ["maxSequences 0", { model: MODEL, maxSequences: 0 }, "maxSequences"],
    ["an unknown field", { model: MODEL, max_sequences: 4 }, "max_sequences"],
  ])("%s: VALIDATION naming the field, in-process and at build() with no worker started", async (_what, args, field) => {
    const direct = await rejection(LlmEngine.load(args as LlmEngineArgs), "VALIDATION");
    expect(direct.field).toBe(field);
    const host = ModelHost.create(LlmEngine, args as LlmEngineArgs);
    const viaInit = await rejection(new InferenceBuilder().init(LlmEngine, args as LlmEngineArgs).build(streamingHandler), "VALIDATION");
    expect(viaInit.field).toBe(field);
    const viaHost = await rejection(host.start(), "VALIDATION");
    expect(viaHost.field).toBe(field);
    expect(host.state).toBe(BackendState.Uninitialized); // refused before any worker started
    await host.close();
  });

  it("an unknown field gets a hint when a known one is meant", async () => {
    const error = await rejection(LlmEngine.load({ model: MODEL, max_sequence_length: 64 } as unknown as LlmEngineArgs), "VALIDATION");
    expect(error.message).toBe("max_sequence_length: unknown field (did you mean maxSequenceLength?)");
  });

  it("a BackendConfig with nothing but the model directory loads: unset max sequence length is the model's", async () => {
    const host = ModelHost.create(LlmEngine, new BackendConfig(MODEL));
    await host.start();
    expect((await host.call("info")).maxSequenceLength).toBe(1024);
    await host.close();
    const shorter = await ModelHost.start(LlmEngine, new BackendConfig(MODEL).withMaxSequenceLength(64).withThreads(2));
    expect((await shorter.call("info")).maxSequenceLength).toBe(64);
    await shorter.close();
  });
});

describe("after failed loads", () => {
  it("the process is fine and a good model host loads and generates the greedy tokens", async () => {
    const host = ModelHost.create(LlmEngine, { model: MODEL });
    const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
    const [ref] = REF.prompts;
    const outputs = await inference.infer({ prompt: ref.prompt, maxTokens: 40, temperature: 0 }).run();
    expect(outputs.map((o) => o.tokenId)).toEqual(ref.greedy_ids);
    expect(outputs.map((o) => o.token).join("")).toBe(ref.greedy_text);
    await inference.close();
    await host.close();
  });

  it("a host whose load failed loads once its files are repaired, after reset()", async () => {
    const dir = brokenCopy((d) => unlinkSync(join(d, "tokenizer.json")));
    const host = ModelHost.create(LlmEngine, { model: dir });
    await rejection(host.start(), "MODEL_LOAD");
    cpSync(join(MODEL, "tokenizer.json"), join(dir, "tokenizer.json"));
    await host.reset();
    expect(host.state).toBe(BackendState.Ready);
    expect(await host.call("encode", REF.prompts[0].prompt)).toEqual(REF.prompts[0].ids);
    await host.close();
  });
});
