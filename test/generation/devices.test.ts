/**
 * Which device and kernels a load asked for, through a model worker: `auto` reports what it chose, the gpu backend
 * runs on the cpu in gpu.js's cpu mode when asked, and generation on it gives the reference's greedy tokens; what
 * Dawn prints while it looks for a GPU stays off the terminal unless --verbose.
 */
import { InferenceError } from "@actorlm/runtime";
import { LlmEngine } from "@actorlm/llm";
import { describe, expect, it } from "vitest";
import { MODEL, REF, drain, hostModel, runCli, summarize } from "./helpers.js";

const onGpuMachine = process.env.ACTORLM_TEST_WEBGPU !== undefined;

describe("devices", () => {
  it.skipIf(onGpuMachine)("device auto with no GPU runs the wasm kernels on the cpu and says so", async () => {
    const m = await hostModel({ device: "auto" });
    try {
      const info = await m.host.call("info");
      expect(info).toMatchObject({ device: "cpu", adapter: null, backend: "wasm" });
      expect(info.fallback).toMatch(/^device auto: running on the cpu, /);
    } finally {
      await m.close();
    }
  });

  it("backend gpu on the cpu: the gpu backend's kernels in gpu.js's cpu mode give the reference's greedy tokens", async () => {
    const m = await hostModel({ device: "cpu", backend: "gpu" });
    try {
      expect(await m.host.call("info")).toMatchObject({ device: "cpu", adapter: null, fallback: null, backend: "gpu", threads: 1, simd: "none" });
      const p = REF.prompts[2];
      const { ids } = summarize(await drain(m.inference.infer({ prompt: p.prompt, maxTokens: 8, temperature: 0 }).spawn()));
      expect(ids).toEqual(p.greedy_ids.slice(0, 8));
    } finally {
      await m.close();
    }
  });

  it.skipIf(onGpuMachine)("actorlm generate --device auto with no GPU: the cpu's greedy text, one line on stderr saying so and nothing of Dawn's without --verbose", async () => {
    const p = REF.prompts[0];
    const args = ["generate", "--prompt", p.prompt, "--max-tokens", "8", "--temperature", "0", "--json", "--device", "auto"];
    const quiet = await runCli(args);
    expect(quiet.code).toBe(0);
    expect((JSON.parse(quiet.stdout) as { ids: number[] }).ids).toEqual(p.greedy_ids.slice(0, 8));
    expect(quiet.stderr).toMatch(/^actorlm: device auto: running on the cpu, /m);   // says it fell back, and nothing else
    expect(quiet.stderr.trim().split("\n").filter((line) => !line.startsWith("actorlm: "))).toEqual([]);
    const verbose = await runCli([...args, "--verbose"]);
    expect(verbose.code).toBe(0);
    expect((JSON.parse(verbose.stdout) as { ids: number[] }).ids).toEqual(p.greedy_ids.slice(0, 8));
  });

  it("verbose must be a boolean: VALIDATION naming it", () => {
    const error = (() => {
      try {
        LlmEngine.validateArgs({ model: MODEL, verbose: "yes" });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InferenceError);
    expect(error).toMatchObject({ code: "VALIDATION", field: "verbose" });
    expect(() => LlmEngine.validateArgs({ model: MODEL, verbose: true })).not.toThrow();
  });
});
