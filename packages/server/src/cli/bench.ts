// `actorlm bench`: load a model, warm up, then time prefill and decode in the model worker; report throughput,
// load time, peak RSS, the kernels' memory high-water mark, the JavaScript runtime and the fraction of the machine's
// memory bandwidth decode reaches and, on the wasm backend, the share of the threads' SIMD arithmetic peak (one
// thread's, measureSimdPeak, times the threads: float32 multiply-adds, or int8 products' integer multiply-adds)
// prefill reaches. With `--concurrency C`,
// C clients generate through the real request path instead (load-test.ts): aggregate and per-request decode rates,
// time to first token and inter-token latency. With `--cached-prefix N`, the time to first token of a request whose
// N-token prefix is cached against the same request cold; with `--chat-turns T`, a T-turn chat whose history is sent
// again each turn, and what each turn found cached (prefix-bench.ts).
import { performance } from "node:perf_hooks";
import { measureBandwidth, measureSimdPeak, type SimdPeak } from "@actorlm/llm";
import { Command, InvalidArgumentError } from "commander";
import { loadTest, type LoadReport } from "./load-test.js";
import { addModelOptions, modelArgs, type ModelFlags } from "./model-options.js";
import { integer } from "./options.js";
import { cachedPrefixBench, chatBench, median, round } from "./prefix-bench.js";
import { startModel } from "./start-model.js";
import { constrainedBench } from "./constrained-bench.js";

interface BenchFlags extends ModelFlags {
  promptTokens: number;
  genTokens: number;
  runs: number;
  concurrency?: number[];
  admitTokens?: number;
  cachedPrefix?: number;
  chatTurns?: number;
  constrained?: boolean;
  json?: boolean;
}

/** Tokens after the cached prefix in `--cached-prefix` requests, and new user tokens per `--chat-turns` turn. */
const SUFFIX_TOKENS = 24;
const USER_TOKENS = 32;

/** What one bench run reports (the `--json` object). */
export interface BenchReport {
  model: string;
  /** Where the model ran ("cpu" or "gpu"), and the WebGPU adapter (null off the GPU). */
  device: string;
  adapter: string | null;
  backend: string;
  dtype: string;
  threads: number;
  simd: string;
  /** The JavaScript runtime the model worker ran on (node, bun or deno) and its version. */
  runtime: string;
  runtime_version: string;
  prompt_tokens: number;
  gen_tokens: number;
  kv_cache_tokens: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  load_ms: number;
  peak_rss_mb: number;
  kernel_memory_mb: number;
  /** The kernels' memory high-water mark after the timed runs (MB). */
  kernel_memory_high_water_mb: number;
  weight_mb_per_token: number;
  bandwidth_gb_per_s: number;
  bandwidth_fraction: number;
  /** Kernel ops and barriers (threads waiting for earlier ops) of one decode step and of one prefill forward (`Kernels.counts`). */
  ops_per_step: number;
  barriers_per_step: number;
  prefill_ops: number;
  prefill_barriers: number;
  /** Kernel memory of the ternary matrices per value, in bits (BitNet, or dtype ternary); absent without any. */
  ternary_bits_per_weight?: number;
  /** Kernel memory of every weight matrix (embedding and head included) per value, in bits: the resident weights' size. */
  weight_bits_per_value: number;
  /** wasm backend: one thread's SIMD arithmetic peak for the kind of product the weights run (GFLOP/s or GOP/s), its kind, and prefill's share of the threads' peak. */
  peak_per_thread?: number;
  peak_kind?: string;
  prefill_gflops?: number;
  prefill_peak_fraction?: number;
}

/** What one `--concurrency` run reports (the `--json` object, one per concurrency). */
export interface ConcurrencyReport {
  model: string;
  backend: string;
  dtype: string;
  threads: number;
  simd: string;
  runtime: string;
  runtime_version: string;
  kv_cache_tokens: number;
  max_batch_tokens: number;
  concurrency: number;
  prompt_tokens: number;
  gen_tokens: number;
  runs: number;
  aggregate_decode_tokens_per_s: number;
  per_request_tokens_per_s: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  itl_p50_ms: number;
  itl_p99_ms: number;
  /** Between consecutive steps in the model worker while every client decodes (no hop to the clients' thread). */
  engine_itl_p50_ms: number;
  engine_itl_p99_ms: number;
  /** With --admit-tokens: that prompt's time to first token, and the clients' inter-token latency meanwhile. */
  admit_prompt_tokens?: number;
  admit_ttft_ms?: number;
  admit_itl_p50_ms?: number;
  admit_itl_p99_ms?: number;
  admit_engine_itl_p50_ms?: number;
  admit_engine_itl_p99_ms?: number;
  load_ms: number;
  peak_rss_mb: number;
  /** The kernels' memory high-water mark after this level's runs (MB): flat however the clients' batches vary. */
  kernel_memory_high_water_mb: number;
  /** wasm backend: one thread's SIMD arithmetic peak (as in BenchReport) and the share of the threads' peak the aggregate decode's products reach. */
  peak_per_thread?: number;
  peak_kind?: string;
  decode_gflops?: number;
  decode_peak_fraction?: number;
}

/** Facts of a model's info that the peak fractions need. */
interface ProductInfo {
  backend: string;
  threads: number;
  productValuesPerToken: number;
  formats: Partial<Record<string, { values: number }>>;
}

/**
 * One thread's SIMD peak for the model's products on the wasm backend (the int8 one where most weight values are int8
 * or ternary, else float32's), the rate `tokensPerS` tokens of products is, in GFLOP/s (2 per multiply-add), and its
 * share of the threads' peak.
 */
async function peakOf(info: ProductInfo, tokensPerS: number): Promise<{ peak: number; kind: keyof SimdPeak; gflops: number; fraction: number } | undefined> {
  if (info.backend !== "wasm") return undefined;
  const measured = await measureSimdPeak();
  const formats = Object.entries(info.formats).sort((a, b) => (b[1]?.values ?? 0) - (a[1]?.values ?? 0));
  const kind: keyof SimdPeak = ["int8", "ternary", "q4"].includes(formats[0]?.[0] ?? "") ? "int8" : "float32";
  const gflops = (2 * info.productValuesPerToken * tokensPerS) / 1e9;
  return { peak: measured[kind], kind, gflops, fraction: gflops / (info.threads * measured[kind]) };
}

/** Parses a comma-separated list of positive integers (`1,4,8,16`). */
function integers(value: string): number[] {
  return value.split(",").map((part) => {
    const n = integer(part);
    if (n < 1) throw new InvalidArgumentError(`expected positive integers, got "${value}"`);
    return n;
  });
}

/** The `bench` command. */
export function benchCommand(): Command {
  return addModelOptions(new Command("bench")
    .description("time prefill and decode of a model (engine only), or C concurrent clients through the request path (--concurrency)"))
    .option("--prompt-tokens <n>", "prompt length P", integer, 128)
    .option("--gen-tokens <n>", "tokens decoded per run G (end-of-sequence ignored)", integer, 128)
    .option("--runs <n>", "timed runs (the median is reported), after one warm-up", integer, 5)
    .option("--concurrency <list>", "C clients at once through the streaming handler, each generating G tokens (a list: one report per C)", integers)
    .option("--admit-tokens <n>", "with --concurrency: submit one prompt of n tokens once every client decodes, and report its effect", integer)
    .option("--cached-prefix <n>", `time to first token of a request whose n-token prefix is cached (${SUFFIX_TOKENS} more tokens after it) against the same request cold, median of --runs`, integer)
    .option("--chat-turns <n>", `a chat of n turns, the whole history sent each turn (first prompt P tokens, replies G tokens, ${USER_TOKENS} new user tokens a turn): what each turn found cached and prefilled`, integer)
    .option("--constrained", "constrained decoding against free decoding: C clients (--concurrency, default 1,8) under a JSON Schema grammar and without, interleaved; grammar compile time and mask cost")
    .option("--json", "print one JSON object (one per line with a --concurrency list or --chat-turns)")
    .action((flags: BenchFlags) => {
      if (flags.constrained === true) return runConstrained(flags);
      if (flags.cachedPrefix !== undefined || flags.chatTurns !== undefined) return runPrefixBench(flags);
      return flags.concurrency === undefined ? runBench(flags) : runConcurrency(flags, flags.concurrency);
    });
}

/** `--constrained`: constrained against free decoding at each concurrency, grammar compile time, mask cost. */
async function runConstrained(flags: BenchFlags): Promise<void> {
  const host = await startModel(modelArgs(flags), !flags.json, flags.download);
  try {
    const info = await host.call("info");
    if (!flags.json) process.stdout.write(`constrained decoding: ${info.model} (${info.backend}, ${info.dtype}), prompt ${flags.promptTokens}, gen ${flags.genTokens}, ${flags.runs} interleaved runs\n`);
    for (const r of await constrainedBench(host, flags.concurrency ?? [1, 8], flags.promptTokens, flags.genTokens, flags.runs)) {
      if (flags.json) process.stdout.write(`${JSON.stringify({ model: info.model, backend: info.backend, dtype: info.dtype, ...r })}\n`);
      else {
        process.stdout.write(
          `C=${r.concurrency}: unconstrained ${r.unconstrained_tokens_per_s} tok/s, constrained ${r.constrained_tokens_per_s} tok/s (ratio ${r.ratio}); ` +
            `schema → EBNF ${r.schema_to_ebnf_ms} ms, compile ${r.compile_ms} ms; mask p50 ${r.mask_p50_ms} ms, p99 ${r.mask_p99_ms} ms (grammar thread); model worker waited p50 ${r.wait_p50_ms} ms, p99 ${r.wait_p99_ms} ms\n`,
        );
      }
    }
  } finally {
    await host.close();
  }
}

/** `--cached-prefix` and `--chat-turns`: what the prefix cache saves, through the request path. */
async function runPrefixBench(flags: BenchFlags): Promise<void> {
  const host = await startModel(modelArgs(flags), !flags.json, flags.download);
  try {
    const info = await host.call("info");
    const what = `${info.model}: ${info.backend} / ${info.dtype} / ${info.threads} threads on ${info.runtime.name} ${info.runtime.version}; prefix caching ${info.prefixCaching ? "on" : "off"}`;
    if (!flags.json) process.stdout.write(`${what}\n`);
    if (flags.cachedPrefix !== undefined) {
      const r = await cachedPrefixBench(host, flags.cachedPrefix, SUFFIX_TOKENS, flags.runs);
      if (flags.json) process.stdout.write(`${JSON.stringify({ model: info.model, backend: info.backend, dtype: info.dtype, prefix_caching: info.prefixCaching, ...r })}\n`);
      else {
        process.stdout.write(`prompt of ${r.prefix_tokens} + ${r.suffix_tokens} tokens, median of ${r.runs} run(s): time to first token cold ${r.cold_ttft_ms} ms, `);
        process.stdout.write(`prefix cached ${r.cached_ttft_ms} ms (${round(100 * r.ttft_ratio)} % of cold; ${r.cached_tokens} tokens found cached)\n`);
      }
    }
    if (flags.chatTurns !== undefined) {
      const turns = await chatBench(host, flags.chatTurns, flags.promptTokens, flags.genTokens, USER_TOKENS);
      if (flags.json) for (const t of turns) process.stdout.write(`${JSON.stringify({ model: info.model, prefix_caching: info.prefixCaching, ...t })}\n`);
      else {
        const header = ["turn", "prompt tokens", "new tokens", "cached", "prefilled", "TTFT ms"];
        const rows = turns.map((t) => [t.turn, t.prompt_tokens, t.new_tokens, t.cached_tokens, t.prefilled_tokens, t.ttft_ms].map(String));
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
        for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => cell.padStart(widths[i])).join("  ")}\n`);
      }
    }
  } finally {
    await host.close();
  }
}

/** Medians over runs of each field of the load reports. */
function medianReport(reports: readonly LoadReport[]): LoadReport {
  const m = (f: (r: LoadReport) => number | undefined) => median(reports.map(f).filter((v): v is number => v !== undefined && !Number.isNaN(v)));
  const out: LoadReport = {
    aggregateDecodeTokensPerS: m((r) => r.aggregateDecodeTokensPerS),
    perRequestTokensPerS: m((r) => r.perRequestTokensPerS),
    ttftP50Ms: m((r) => r.ttftP50Ms),
    ttftP99Ms: m((r) => r.ttftP99Ms),
    itlP50Ms: m((r) => r.itlP50Ms),
    itlP99Ms: m((r) => r.itlP99Ms),
    engineItlP50Ms: m((r) => r.engineItlP50Ms),
    engineItlP99Ms: m((r) => r.engineItlP99Ms),
  };
  if (reports[0].admission !== undefined) {
    out.admission = {
      ttftMs: m((r) => r.admission?.ttftMs),
      itlP50Ms: m((r) => r.admission?.itlP50Ms),
      itlP99Ms: m((r) => r.admission?.itlP99Ms),
      engineItlP50Ms: m((r) => r.admission?.engineItlP50Ms),
      engineItlP99Ms: m((r) => r.admission?.engineItlP99Ms),
      samples: m((r) => r.admission?.samples),
    };
  }
  return out;
}

async function runConcurrency(flags: BenchFlags, levels: readonly number[]): Promise<void> {
  const t0 = performance.now();
  const host = await startModel(modelArgs(flags), !flags.json);
  const loadMs = performance.now() - t0;
  const reports: ConcurrencyReport[] = [];
  try {
    const info = await host.call("info");
    const base = { promptTokens: flags.promptTokens, genTokens: flags.genTokens, seed: 1 };
    // warm-up (JIT and caches) on prompts of its own: the timed runs' prompts must not be in the prefix cache already
    await loadTest(host, { ...base, concurrency: Math.min(2, levels[0]), genTokens: 8, admitTokens: 0, seed: 900_001 });
    for (const C of levels) {
      const runs: LoadReport[] = [];
      for (let run = 0; run < flags.runs; run++) runs.push(await loadTest(host, { ...base, concurrency: C, admitTokens: flags.admitTokens ?? 0, seed: 1 + 1000 * run }));
      const r = medianReport(runs);
      const after = await host.call("info");
      const report: ConcurrencyReport = {
        model: info.model,
        backend: info.backend,
        dtype: info.dtype,
        threads: info.threads,
        simd: info.simd,
        runtime: info.runtime.name,
        runtime_version: info.runtime.version,
        kv_cache_tokens: info.kvCacheTokens,
        max_batch_tokens: info.maxBatchTokens,
        concurrency: C,
        prompt_tokens: flags.promptTokens,
        gen_tokens: flags.genTokens,
        runs: flags.runs,
        aggregate_decode_tokens_per_s: round(r.aggregateDecodeTokensPerS),
        per_request_tokens_per_s: round(r.perRequestTokensPerS),
        ttft_p50_ms: round(r.ttftP50Ms),
        ttft_p99_ms: round(r.ttftP99Ms),
        itl_p50_ms: round(r.itlP50Ms, 2),
        itl_p99_ms: round(r.itlP99Ms, 2),
        engine_itl_p50_ms: round(r.engineItlP50Ms, 2),
        engine_itl_p99_ms: round(r.engineItlP99Ms, 2),
        load_ms: round(loadMs),
        peak_rss_mb: round((process.resourceUsage().maxRSS * 1024) / 2 ** 20),
        kernel_memory_high_water_mb: round(after.memoryHighWaterBytes / 2 ** 20),
      };
      const peak = await peakOf(info, r.aggregateDecodeTokensPerS);
      if (peak !== undefined) {
        Object.assign(report, {
          peak_per_thread: round(peak.peak), peak_kind: peak.kind, decode_gflops: round(peak.gflops), decode_peak_fraction: round(peak.fraction, 3),
        });
      }
      if (r.admission !== undefined) {
        Object.assign(report, {
          admit_prompt_tokens: flags.admitTokens,
          admit_ttft_ms: round(r.admission.ttftMs),
          admit_itl_p50_ms: round(r.admission.itlP50Ms, 2),
          admit_itl_p99_ms: round(r.admission.itlP99Ms, 2),
          admit_engine_itl_p50_ms: round(r.admission.engineItlP50Ms, 2),
          admit_engine_itl_p99_ms: round(r.admission.engineItlP99Ms, 2),
        });
      }
      reports.push(report);
      if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    }
  } finally {
    await host.close();
  }
  if (flags.json) return;
  const first = reports[0];
  process.stdout.write(`${first.model}: ${first.backend} / ${first.dtype} / ${first.threads} threads / ${first.simd} on ${first.runtime} ${first.runtime_version}; KV cache ${first.kv_cache_tokens} tokens; P = ${first.prompt_tokens}, G = ${first.gen_tokens}, median of ${first.runs} run(s)\n`);
  const header = ["C", "aggregate tok/s", "per request tok/s", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "engine ITL p50", "p99", "memory high water MB", "of SIMD peak"];
  const admit = first.admit_prompt_tokens !== undefined;
  if (admit) header.push(`admit ${first.admit_prompt_tokens}: TTFT ms`, "ITL p50 ms", "ITL p99 ms", "engine ITL p50", "p99");
  const rows = reports.map((r) => {
    const row = [
      r.concurrency, r.aggregate_decode_tokens_per_s, r.per_request_tokens_per_s, r.ttft_p50_ms, r.ttft_p99_ms, r.itl_p50_ms, r.itl_p99_ms, r.engine_itl_p50_ms,
      r.engine_itl_p99_ms, r.kernel_memory_high_water_mb, r.decode_peak_fraction ?? NaN,
    ];
    if (admit) row.push(r.admit_ttft_ms ?? NaN, r.admit_itl_p50_ms ?? NaN, r.admit_itl_p99_ms ?? NaN, r.admit_engine_itl_p50_ms ?? NaN, r.admit_engine_itl_p99_ms ?? NaN);
    return row.map(String);
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => cell.padStart(widths[i])).join("  ")}\n`);
}

async function runBench(flags: BenchFlags): Promise<void> {
  const t0 = performance.now();
  const host = await startModel(modelArgs(flags), !flags.json, flags.download);
  const loadMs = performance.now() - t0;
  let report: BenchReport;
  try {
    const info = await host.call("info");
    const options = { promptTokens: flags.promptTokens, genTokens: flags.genTokens };
    await host.call("benchmark", { ...options, runs: 1 });                    // warm-up: JIT and caches
    const times = await host.call("benchmark", { ...options, runs: flags.runs });
    const after = await host.call("info");
    const peakRss = process.resourceUsage().maxRSS * 1024;
    const prefill = (flags.promptTokens * 1000) / median(times.prefillMs);
    const decode = (flags.genTokens * 1000) / median(times.decodeMs);
    await host.close();
    // the bandwidth of the memory the weights live in: the GPU's own on the GPU, the cores' otherwise
    const bandwidth = await measureBandwidth(info.device === "gpu" ? "gpu" : "cpu", info.threads);
    report = {
      model: info.model,
      device: info.device,
      adapter: info.adapter,
      backend: info.backend,
      dtype: info.dtype,
      threads: info.threads,
      simd: info.simd,
      runtime: info.runtime.name,
      runtime_version: info.runtime.version,
      prompt_tokens: flags.promptTokens,
      gen_tokens: flags.genTokens,
      kv_cache_tokens: info.kvCacheTokens,
      prefill_tokens_per_s: round(prefill),
      decode_tokens_per_s: round(decode),
      load_ms: round(loadMs),
      peak_rss_mb: round(peakRss / 2 ** 20),
      kernel_memory_mb: round(after.memoryBytes / 2 ** 20),
      kernel_memory_high_water_mb: round(after.memoryHighWaterBytes / 2 ** 20),
      weight_mb_per_token: round(info.weightBytesPerToken / 2 ** 20),
      bandwidth_gb_per_s: round(bandwidth),
      bandwidth_fraction: round((info.weightBytesPerToken * decode) / 1e9 / bandwidth, 3),
      ops_per_step: round(times.decodeOps),
      barriers_per_step: round(times.decodeBarriers),
      prefill_ops: round(times.prefillOps),
      prefill_barriers: round(times.prefillBarriers),
      weight_bits_per_value: round(bitsPerValue(info.formats), 3),
    };
    const ternary = info.formats.ternary;
    if (ternary !== undefined) report.ternary_bits_per_weight = round((8 * ternary.bytes) / ternary.values, 3);
    const peak = await peakOf(info, prefill);
    if (peak !== undefined) {
      Object.assign(report, {
        peak_per_thread: round(peak.peak), peak_kind: peak.kind, prefill_gflops: round(peak.gflops), prefill_peak_fraction: round(peak.fraction, 3),
      });
    }
  } finally {
    await host.close();
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const rows: [string, string][] = [
    ["model", report.model],
    ["device", report.adapter === null ? report.device : `${report.device} (${report.adapter})`],
    ["backend / dtype / threads / simd", `${report.backend} / ${report.dtype} / ${report.threads} / ${report.simd}`],
    ["runtime", `${report.runtime} ${report.runtime_version}`],
    ["KV cache (tokens)", String(report.kv_cache_tokens)],
    [`prefill, ${report.prompt_tokens} tokens (tokens/s)`, String(report.prefill_tokens_per_s)],
    [`decode, ${report.gen_tokens} tokens (tokens/s)`, String(report.decode_tokens_per_s)],
    ["load (ms)", String(report.load_ms)],
    ["peak RSS (MB)", String(report.peak_rss_mb)],
    ["kernel memory in use / high-water mark (MB)", `${report.kernel_memory_mb} / ${report.kernel_memory_high_water_mb}`],
    ["weights read per token (MB)", String(report.weight_mb_per_token)],
    ["weight matrices (bits per value)", String(report.weight_bits_per_value)],
    ...(report.ternary_bits_per_weight === undefined ? [] : [["ternary matrices (bits per weight)", String(report.ternary_bits_per_weight)] as [string, string]]),
    ["memory bandwidth (GB/s)", String(report.bandwidth_gb_per_s)],
    ["fraction of the bandwidth limit", String(report.bandwidth_fraction)],
    ["kernel ops / barriers per decode step", `${report.ops_per_step} / ${report.barriers_per_step}`],
    ["kernel ops / barriers per prefill", `${report.prefill_ops} / ${report.prefill_barriers}`],
    ...(report.peak_per_thread === undefined ? [] : [
      [`SIMD peak per thread, ${report.peak_kind} products (${report.peak_kind === "int8" ? "GOP/s" : "GFLOP/s"})`, String(report.peak_per_thread)],
      ["prefill products (GFLOP/s) / fraction of the threads' peak", `${report.prefill_gflops} / ${report.prefill_peak_fraction}`],
    ] as [string, string][]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
}



/** Bits of kernel memory per value over every weight matrix (scales and padding included). */
function bitsPerValue(formats: Partial<Record<string, { values: number; bytes: number }>>): number {
  let bytes = 0, values = 0;
  for (const use of Object.values(formats)) {
    bytes += use?.bytes ?? 0;
    values += use?.values ?? 0;
  }
  return values === 0 ? 0 : (8 * bytes) / values;
}
