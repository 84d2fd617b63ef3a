/**
 * Broken copies of models/kjv-llama, loaded in a real worker: each is refused at build() with MODEL_LOAD and a
 * message naming what is wrong (file, tensor and shapes, model type); unimplemented dtype / device are refused by
 * name; a failed load leaves the process, and a good model host, working.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BackendConfig, BackendState, InferenceBuilder, ModelHost, type ErrorCode, type InferenceError } from "@actorlm/runtime";
import { LlamaModel, streamingHandler, type LlamaModelArgs } from "@actorlm/llm";
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
async function refused(args: LlamaModelArgs, code: ErrorCode): Promise<InferenceError> {
  const host = ModelHost.create(LlamaModel, args);
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

  it('model_type "gpt2": MODEL_LOAD naming it', async () => {
    const dir = brokenCopy((d) => editConfig(d, (c) => (c.model_type = "gpt2")));
    const error = await refused({ model: dir }, "MODEL_LOAD");
    expect(error.message).toContain('"gpt2"');
  });

  it("a directory that does not exist: MODEL_LOAD naming config.json", async () => {
    const error = await refused({ model: "/nonexistent/kjv" }, "MODEL_LOAD");
    expect(error.message).toContain("/nonexistent/kjv/config.json");
  });
});

describe("unimplemented dtype and device are refused by name", () => {
  // LlamaModel.load refuses them with VALIDATION before touching any file ...
  it("LlamaModel.load: VALIDATION for dtype ternary and device gpu", async () => {
    const dtype = await rejection(LlamaModel.load({ model: MODEL, dtype: "ternary" }), "VALIDATION");
    expect(dtype.message).toMatch(/^dtype ternary: not supported/);
    const device = await rejection(LlamaModel.load({ model: MODEL, device: "gpu" }), "VALIDATION");
    expect(device.message).toMatch(/^device gpu: no GPU backend/);
  });

  // ... but the runtime's worker reports every failed load() as MODEL_LOAD (a runtime contract, see
  // test/runtime/model-load.test.ts, "failLoadCode"), so through a host the code is MODEL_LOAD. The message keeps
  // the refusal's name.
  it.each([
    [{ dtype: "ternary" }, /dtype ternary: not supported/],
    [{ dtype: "b1.58" }, /dtype ternary: not supported/],
    [{ device: "gpu" }, /device gpu: no GPU backend/],
    [{ device: "cuda:0" }, /device cuda:0: no GPU backend/],
  ] as const)("through a host: %o is refused by name", async (args, message) => {
    const error = await refused({ model: MODEL, ...args }, "MODEL_LOAD");
    expect(error.message).toMatch(message);
  });

  it("an unknown dtype in a BackendConfig is VALIDATION before any worker starts", async () => {
    const host = ModelHost.create(LlamaModel, new BackendConfig({ model: MODEL, dtype: "float64" as "float32" }));
    const error = await rejection(host.start(), "VALIDATION");
    expect(error.message).toMatch(/^dtype/);
    await host.close();
  });
});

describe("after failed loads", () => {
  it("the process is fine and a good model host loads and generates the greedy tokens", async () => {
    const host = ModelHost.create(LlamaModel, { model: MODEL });
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
    const host = ModelHost.create(LlamaModel, { model: dir });
    await rejection(host.start(), "MODEL_LOAD");
    cpSync(join(MODEL, "tokenizer.json"), join(dir, "tokenizer.json"));
    await host.reset();
    expect(host.state).toBe(BackendState.Ready);
    expect(await host.call("encode", REF.prompts[0].prompt)).toEqual(REF.prompts[0].ids);
    await host.close();
  });
});
