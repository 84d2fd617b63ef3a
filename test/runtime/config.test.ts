import { BackendConfig, InferenceBuilder, Model, handler, type BackendConfigInit } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { ConfigEcho } from "../fixtures/runtime/config-echo.mjs";
import { rejection } from "./helpers.js";

/** The VALIDATION error `validate()` throws for `config`. */
function validationError(config: BackendConfig): { code?: string; field?: string; message: string } {
  try {
    config.validate();
  } catch (error) {
    return error as { code?: string; field?: string; message: string };
  }
  throw new Error("expected validate() to throw");
}

describe("BackendConfig", () => {
  it("builds from a string with defaults; an unset max sequence length means the model's own", () => {
    const config = new BackendConfig("models/kjv-llama");
    expect(config.toJSON()).toEqual({ model: "models/kjv-llama", device: "cpu", dtype: "float32", flashAttention: false });
    expect(config.maxSequenceLength).toBeUndefined();
    expect(config.threads).toBeUndefined();
  });

  it("keeps every plain setting, canonicalizing dtype aliases", () => {
    const full: BackendConfigInit = { model: "m", device: "cuda:1", dtype: "bf16", maxSequenceLength: 512, flashAttention: true, threads: 4 };
    expect(new BackendConfig(full).validate().toJSON()).toEqual({
      model: "m", device: "cuda:1", dtype: "bfloat16", maxSequenceLength: 512, flashAttention: true, threads: 4,
    });
    const aliases = { f32: "float32", fp32: "float32", f16: "float16", fp16: "float16", bf16: "bfloat16", i8: "int8", "b1.58": "ternary", ternary: "ternary" } as const;
    for (const [alias, name] of Object.entries(aliases)) expect(new BackendConfig({ model: "m", dtype: alias as "f32" }).dtype).toBe(name);
  });

  it("has immutable chainable setters", () => {
    const base = new BackendConfig("m");
    const changed = base.withDevice("gpu").withDtype("i8").withMaxSequenceLength(128).withFlashAttention().withThreads(2);
    expect(changed.toJSON()).toEqual({ model: "m", device: "gpu", dtype: "int8", maxSequenceLength: 128, flashAttention: true, threads: 2 });
    expect(base.toJSON()).toEqual({ model: "m", device: "cpu", dtype: "float32", flashAttention: false });
    expect(changed.withMaxSequenceLength(undefined).withThreads(undefined).toJSON()).toEqual({ model: "m", device: "gpu", dtype: "int8", flashAttention: true });
    expect(JSON.parse(JSON.stringify(changed))).toEqual({ model: "m", device: "gpu", dtype: "int8", maxSequenceLength: 128, flashAttention: true, threads: 2 });
  });

  it("validate() is VALIDATION naming the bad field (as `field` and at the start of the message)", () => {
    const ok = new BackendConfig("m");
    const cases: [BackendConfig, string][] = [
      [new BackendConfig(""), "model"],
      [new BackendConfig("   "), "model"],
      [new BackendConfig(undefined as unknown as string), "model"],
      [ok.withMaxSequenceLength(0), "maxSequenceLength"],
      [ok.withMaxSequenceLength(-5), "maxSequenceLength"],
      [ok.withMaxSequenceLength(1.5), "maxSequenceLength"],
      [ok.withDevice("tpu" as "cpu"), "device"],
      [ok.withDevice("cuda:x" as "cpu"), "device"],
      [ok.withDevice("cuda:-1" as "cpu"), "device"],
      [ok.withDtype("float64" as "float32"), "dtype"],
      [ok.withThreads(0), "threads"],
      [ok.withThreads(2.5), "threads"],
      [new BackendConfig({ model: "m", flashAttention: "yes" as unknown as boolean }), "flashAttention"],
    ];
    for (const [config, field] of cases) {
      const error = validationError(config);
      expect(error.code, field).toBe("VALIDATION");
      expect(error.field, error.message).toBe(field);
      expect(error.message.startsWith(`${field}:`), error.message).toBe(true);
    }
    expect(ok.withDevice("cuda:0").validate()).toBeInstanceOf(BackendConfig);
  });

  it("init() validates a BackendConfig before any worker starts and sends it to the worker as plain data", async () => {
    const h = handler([Model<ConfigEcho>()], (model) => model.call("args"));
    const config = new BackendConfig("models/x").withDtype("f16").withThreads(3);
    const inference = await new InferenceBuilder().init(ConfigEcho, config).build(h);
    expect(await inference.infer(undefined).run()).toEqual([{ model: "models/x", device: "cpu", dtype: "float16", flashAttention: false, threads: 3 }]);
    await inference.close();

    const bad = new BackendConfig("models/x").withMaxSequenceLength(0);
    const error = await rejection(new InferenceBuilder().init(ConfigEcho, bad).build(h), "VALIDATION");
    expect(error.field).toBe("maxSequenceLength");
  });
});
