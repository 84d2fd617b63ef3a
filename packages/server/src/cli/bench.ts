// `actorlm bench`: load a model, warm up, then time prefill and decode in the model worker; report throughput,
// load time, peak RSS and the fraction of the machine's memory bandwidth decode reaches.
import { performance } from "node:perf_hooks";
import { WasmKernels } from "@actorlm/tensor";
import { Command } from "commander";
import { addModelOptions, modelArgs, type ModelFlags } from "./model-options.js";
import { integer } from "./options.js";
import { startModel } from "./start-model.js";

interface BenchFlags extends ModelFlags {
  promptTokens: number;
  genTokens: number;
  runs: number;
  json?: boolean;
}

/** What one bench run reports (the `--json` object). */
export interface BenchReport {
  model: string;
  backend: string;
  dtype: string;
  threads: number;
  simd: string;
  prompt_tokens: number;
  gen_tokens: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  load_ms: number;
  peak_rss_mb: number;
  kernel_memory_mb: number;
  weight_mb_per_token: number;
  bandwidth_gb_per_s: number;
  bandwidth_fraction: number;
  /** Kernel memory of the ternary matrices per value, in bits (BitNet, or dtype ternary); absent without any. */
  ternary_bits_per_weight?: number;
}

/** The `bench` command. */
export function benchCommand(): Command {
  return addModelOptions(new Command("bench")
    .description("time prefill and decode of a model (engine only: no sampling or streaming)")
    .showHelpAfterError())
    .option("--prompt-tokens <n>", "prompt length P", integer, 128)
    .option("--gen-tokens <n>", "tokens decoded per run G (end-of-sequence ignored)", integer, 128)
    .option("--runs <n>", "timed runs (the median is reported), after one warm-up", integer, 5)
    .option("--json", "print one JSON object")
    .action((flags: BenchFlags) => runBench(flags));
}

async function runBench(flags: BenchFlags): Promise<void> {
  const t0 = performance.now();
  const host = await startModel(modelArgs(flags), !flags.json);
  const loadMs = performance.now() - t0;
  let report: BenchReport;
  try {
    const info = await host.call("info");
    const options = { promptTokens: flags.promptTokens, genTokens: flags.genTokens };
    await host.call("benchmark", { ...options, runs: 1 });                    // warm-up: JIT and caches
    const times = await host.call("benchmark", { ...options, runs: flags.runs });
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const prefill = (flags.promptTokens * 1000) / median(times.prefillMs);
    const decode = (flags.genTokens * 1000) / median(times.decodeMs);
    await host.close();
    const bandwidth = await WasmKernels.measureBandwidth(info.threads);
    report = {
      model: info.model,
      backend: info.backend,
      dtype: info.dtype,
      threads: info.threads,
      simd: info.simd,
      prompt_tokens: flags.promptTokens,
      gen_tokens: flags.genTokens,
      prefill_tokens_per_s: round(prefill),
      decode_tokens_per_s: round(decode),
      load_ms: round(loadMs),
      peak_rss_mb: round(peakRss / 2 ** 20),
      kernel_memory_mb: round(info.memoryBytes / 2 ** 20),
      weight_mb_per_token: round(info.weightBytesPerToken / 2 ** 20),
      bandwidth_gb_per_s: round(bandwidth),
      bandwidth_fraction: round((info.weightBytesPerToken * decode) / 1e9 / bandwidth, 3),
    };
    const ternary = info.formats.ternary;
    if (ternary !== undefined) report.ternary_bits_per_weight = round((8 * ternary.bytes) / ternary.values, 3);
  } finally {
    await host.close();
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ["model", report.model],
    ["backend / dtype / threads / simd", `${report.backend} / ${report.dtype} / ${report.threads} / ${report.simd}`],
    [`prefill, ${report.prompt_tokens} tokens (tokens/s)`, String(report.prefill_tokens_per_s)],
    [`decode, ${report.gen_tokens} tokens (tokens/s)`, String(report.decode_tokens_per_s)],
    ["load (ms)", String(report.load_ms)],
    ["peak RSS (MB)", String(report.peak_rss_mb)],
    ["weights read per token (MB)", String(report.weight_mb_per_token)],
    ...(report.ternary_bits_per_weight === undefined ? [] : [["ternary matrices (bits per weight)", String(report.ternary_bits_per_weight)] as [string, string]]),
    ["memory bandwidth (GB/s)", String(report.bandwidth_gb_per_s)],
    ["fraction of the bandwidth limit", String(report.bandwidth_fraction)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
