/** `actorlm bench` in a child process: the JSON report's fields, the engine flags honoured, bad flags refused. */
import { describe, expect, it } from "vitest";
import { runCli } from "../generation/helpers.js";

const cli = (...args: string[]) => runCli(args);

describe("actorlm bench", () => {
  it("--json prints one report with every field, for the backend, dtype and threads asked", async () => {
    const run = await cli("bench", "--dtype", "bfloat16", "--threads", "2", "--prompt-tokens", "16", "--gen-tokens", "8", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Record<string, number | string>;
    expect(report).toMatchObject({ backend: "wasm", dtype: "bfloat16", threads: 2, prompt_tokens: 16, gen_tokens: 8 });
    expect(["plain", "relaxed"]).toContain(report.simd);
    for (const key of ["prefill_tokens_per_s", "decode_tokens_per_s", "load_ms", "peak_rss_mb", "bandwidth_gb_per_s", "bandwidth_fraction", "weight_mb_per_token", "kv_cache_tokens"]) {
      expect(typeof report[key], key).toBe("number");
      expect(report[key] as number, key).toBeGreaterThan(0);
    }
    // kernel ops and barriers of one decode step and one prefill: whole numbers, fewer barriers than ops (ops that run
    // back to back on their own rows share one), and no more ops in a prefill than a step (the per-op work grows, not the ops)
    for (const [ops, barriers] of [["ops_per_step", "barriers_per_step"], ["prefill_ops", "prefill_barriers"]] as const) {
      expect(Number.isInteger(report[ops]) && Number.isInteger(report[barriers]), ops).toBe(true);
      expect(report[barriers] as number, barriers).toBeGreaterThan(0);
      expect(report[barriers] as number, barriers).toBeLessThan(report[ops] as number);
    }
    expect(report.prefill_ops as number).toBeLessThanOrEqual(report.ops_per_step as number);
    // weights read per token: kjv-llama in bf16, the tied embedding counted once as the head
    expect(report.weight_mb_per_token).toBeCloseTo(11.0, 0);
    // the runtime the model worker ran on, and the kernels' memory high-water mark (at least what they hold now)
    expect(["node", "bun", "deno"]).toContain(report.runtime);
    expect(report.runtime_version).toBe((process.versions as Record<string, string | undefined>)[report.runtime]);
    expect(report.kernel_memory_high_water_mb).toBeGreaterThanOrEqual(report.kernel_memory_mb as number);
    expect(report.kernel_memory_mb).toBeGreaterThan(report.weight_mb_per_token as number);
    // the SIMD peak its bfloat16 products run on (float32 multiply-adds) and prefill's share of the 2 threads' peak:
    // 2 flops per weight value a prompt token multiplies (every matrix but the tied 4096 × 256 embedding) per token
    expect(report.peak_kind).toBe("float32");
    for (const key of ["peak_per_thread", "prefill_gflops", "prefill_peak_fraction"]) expect(report[key] as number, key).toBeGreaterThan(0);
    const values = ((report.prefill_gflops as number) * 1e9) / 2 / (report.prefill_tokens_per_s as number);
    expect(values / ((report.weight_mb_per_token as number) * 2 ** 19 - 4096 * 256)).toBeCloseTo(1, 1);
    expect(report.prefill_peak_fraction).toBeCloseTo((report.prefill_gflops as number) / 2 / (report.peak_per_thread as number), 1);
  });

  it("--cached-prefix and --chat-turns report what the prefix cache found; --no-prefix-caching turns it off", async () => {
    const on = await cli("bench", "--cached-prefix", "100", "--chat-turns", "3", "--prompt-tokens", "40", "--gen-tokens", "8", "--runs", "1", "--json");
    expect(on.code, on.stderr).toBe(0);
    const [prefix, ...turns] = on.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, number | boolean>);
    // 100 tokens: 6 full blocks before the last token are found cached
    expect(prefix).toMatchObject({ prefix_caching: true, prefix_tokens: 100, suffix_tokens: 24, runs: 1, cached_tokens: 96 });
    expect(prefix.cold_ttft_ms as number).toBeGreaterThan(0);
    expect(turns.map((t) => t.turn)).toEqual([1, 2, 3]);
    expect(turns[0]).toMatchObject({ prompt_tokens: 40, cached_tokens: 0, prefilled_tokens: 40 });
    // each later turn: the history (40 + 8 generated, less the last one not fed back) minus its partial block is cached
    for (const t of turns.slice(1)) expect(t.prefilled_tokens as number).toBeLessThanOrEqual((t.new_tokens as number) + 16);
    expect(turns[1]).toMatchObject({ prompt_tokens: 80, new_tokens: 40 });
    const off = await cli("bench", "--cached-prefix", "100", "--runs", "1", "--json", "--no-prefix-caching");
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ prefix_caching: false, cached_tokens: 0 });
  });

  it("--concurrency runs clients through the request path: one report per level, with the batching fields", async () => {
    const run = await cli("bench", "--concurrency", "1,3", "--prompt-tokens", "8", "--gen-tokens", "6", "--admit-tokens", "40", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const reports = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, number | string>);
    expect(reports.map((r) => r.concurrency)).toEqual([1, 3]);
    for (const report of reports) {
      expect(report).toMatchObject({ backend: "wasm", dtype: "float32", prompt_tokens: 8, gen_tokens: 6, admit_prompt_tokens: 40 });
      for (const key of ["aggregate_decode_tokens_per_s", "per_request_tokens_per_s", "ttft_p50_ms", "itl_p50_ms", "itl_p99_ms", "admit_ttft_ms", "kv_cache_tokens"]) {
        expect(typeof report[key], key).toBe("number");
        expect(report[key] as number, key).toBeGreaterThan(0);
      }
      expect(report.itl_p99_ms as number).toBeGreaterThanOrEqual(report.itl_p50_ms as number);
      expect(report.runtime_version).toBe((process.versions as Record<string, string | undefined>)[report.runtime]);
      expect(report.kernel_memory_high_water_mb as number).toBeGreaterThan(0);
      expect(report.decode_peak_fraction as number).toBeGreaterThan(0);
    }
  });

  it("--constrained reports constrained against free decoding per concurrency, compile time and mask cost", async () => {
    const run = await cli("bench", "--constrained", "--concurrency", "1,2", "--prompt-tokens", "8", "--gen-tokens", "8", "--runs", "1", "--json");
    expect(run.code, run.stderr).toBe(0);
    const reports = run.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, number | string>);
    expect(reports.map((r) => r.concurrency)).toEqual([1, 2]);
    for (const report of reports) {
      for (const key of ["unconstrained_tokens_per_s", "constrained_tokens_per_s", "ratio", "schema_to_ebnf_ms", "compile_ms", "mask_p50_ms", "mask_p99_ms"]) {
        expect(typeof report[key], key).toBe("number");
        expect(report[key] as number, key).toBeGreaterThan(0);
      }
      expect(report.wait_p99_ms as number).toBeGreaterThanOrEqual(report.wait_p50_ms as number);
    }
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
