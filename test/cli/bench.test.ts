/** `actorlm bench` in a child process: the JSON report's fields, the engine flags honoured, bad flags refused. */
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLI, ROOT } from "../generation/helpers.js";

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

describe("actorlm bench", () => {
  it("--json prints one report with every field, for the backend, dtype and threads asked", async () => {
    const run = await cli("bench", "--dtype", "bfloat16", "--threads", "2", "--prompt-tokens", "16", "--gen-tokens", "8", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, number | string>;
    expect(report).toMatchObject({ backend: "wasm", dtype: "bfloat16", threads: 2, prompt_tokens: 16, gen_tokens: 8 });
    expect(["plain", "relaxed"]).toContain(report.simd);
    for (const key of ["prefill_tokens_per_s", "decode_tokens_per_s", "load_ms", "peak_rss_mb", "bandwidth_gb_per_s", "bandwidth_fraction", "weight_mb_per_token"]) {
      expect(typeof report[key], key).toBe("number");
      expect(report[key] as number, key).toBeGreaterThan(0);
    }
    // weights read per token: kjv-llama in bf16, the tied embedding counted once as the head
    expect(report.weight_mb_per_token).toBeCloseTo(11.0, 0);
  });

  it("the js backend reports itself", async () => {
    const run = await cli("bench", "--backend", "js", "--prompt-tokens", "4", "--gen-tokens", "2", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ backend: "js", simd: "none", threads: 1 });
  });

  it.each([["--backend", "cuda"], ["--dtype", "float64"], ["--prompt-tokens", "x"]])("%s %s is refused", async (flag, value) => {
    const run = await cli("bench", flag, value, "--runs", "1");
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(value === "float64" ? /dtype/ : new RegExp(flag.slice(2).split("-")[0]));
  });
});
