import { BackendConfig, DataTypes, InferenceBuilder, Model, bytesFor, handler, parseDataType, type BackendConfigInit } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { ConfigEcho } from "../fixtures/runtime/config-echo.mjs";
import { rejection } from "./helpers.js";

function validationField(config: BackendConfig): string {
  try {
    config.validate();
  } catch (error) {
    expect((error as { code?: string }).code).toBe("VALIDATION");
    return (error as Error).message.split(":")[0] ?? "";
  }
  throw new Error("expected validate() to throw");
}

describe("DataType", () => {
  it("knows byte sizes, ternary as 2 packed bits", () => {
    expect(DataTypes.float32.byteSize).toBe(4);
    expect(DataTypes.float16.byteSize).toBe(2);
    expect(DataTypes.bfloat16.byteSize).toBe(2);
    expect(DataTypes.int8.byteSize).toBe(1);
    expect(DataTypes.ternary.bits).toBe(2);
    expect(DataTypes.ternary.byteSize).toBe(0.25);
    expect(bytesFor(DataTypes.ternary, 10)).toBe(3);
    expect(bytesFor(DataTypes.bfloat16, 10)).toBe(20);
  });

  it("parses names and aliases, rejects unknown ones", () => {
    expect(parseDataType("f32")).toBe(DataTypes.float32);
    expect(parseDataType("bf16")).toBe(DataTypes.bfloat16);
    expect(parseDataType("ternary")).toBe(DataTypes.ternary);
    expect(() => parseDataType("float64")).toThrow(expect.objectContaining({ code: "VALIDATION" }));
  });
});

describe("BackendConfig", () => {
  it("builds from a string or plain settings, with defaults", () => {
    const config = new BackendConfig("models/kjv-llama");
    expect(config.toJSON()).toEqual({ model: "models/kjv-llama", device: "cpu", dtype: "float32", maxSequenceLength: 2048, flashAttention: false });
    const full: BackendConfigInit = { model: "m", device: "cuda:1", dtype: "bf16", maxSequenceLength: 512, flashAttention: true, threads: 4 };
    expect(new BackendConfig(full).validate().toJSON()).toEqual({ ...full, dtype: "bfloat16" });
  });

  it("has immutable chainable setters", () => {
    const base = new BackendConfig("m");
    const changed = base.withDevice("gpu").withDtype("int8").withMaxSequenceLength(128).withFlashAttention().withThreads(2);
    expect(changed.toJSON()).toEqual({ model: "m", device: "gpu", dtype: "int8", maxSequenceLength: 128, flashAttention: true, threads: 2 });
    expect(base.device).toBe("cpu");
    expect(changed.dataType).toBe(DataTypes.int8);
    expect(JSON.parse(JSON.stringify(changed))).toEqual(changed.toJSON());
  });

  it("validate() names the bad field", () => {
    const ok = new BackendConfig("m");
    expect(validationField(new BackendConfig(""))).toBe("model");
    expect(validationField(new BackendConfig("   "))).toBe("model");
    expect(validationField(ok.withMaxSequenceLength(0))).toBe("maxSequenceLength");
    expect(validationField(ok.withMaxSequenceLength(-5))).toBe("maxSequenceLength");
    expect(validationField(ok.withMaxSequenceLength(1.5))).toBe("maxSequenceLength");
    expect(validationField(ok.withDevice("tpu" as "cpu"))).toBe("device");
    expect(validationField(ok.withDevice("cuda:x" as "cpu"))).toBe("device");
    expect(validationField(ok.withDevice("cuda:-1" as "cpu"))).toBe("device");
    expect(validationField(ok.withDtype("float64" as "float32"))).toBe("dtype");
    expect(validationField(ok.withThreads(0))).toBe("threads");
    expect(validationField(ok.withThreads(2.5))).toBe("threads");
    expect(ok.withDevice("cuda:0").validate()).toBeInstanceOf(BackendConfig);
  });

  it("init() validates a BackendConfig at build and sends it to the worker as plain data", async () => {
    const h = handler([Model<ConfigEcho>()], (model) => model.call("args"));
    const config = new BackendConfig("models/x").withDtype("f16").withThreads(3);
    const inference = await new InferenceBuilder().init(ConfigEcho, config).build(h);
    expect(await inference.infer(undefined).run()).toEqual([config.toJSON()]);
    await inference.close();

    const bad = new BackendConfig("models/x").withMaxSequenceLength(0);
    const error = await rejection(new InferenceBuilder().init(ConfigEcho, bad).build(h), "VALIDATION");
    expect(error.message).toMatch(/^maxSequenceLength/);
  });
});
