// `npm run bench`: `actorlm bench --json` on the embedded model and on a SmolLM-135M-shaped model (written here
// with seeded random weights), each in a fresh process (so peak RSS is its own); every row names the runtime (node,
// bun or deno, and its version) and the kernels' memory high-water mark:
//   - engine: prefill and decode in the model worker (and prefill's share of the SIMD arithmetic peak), for each dtype, and on a BitNet b1.58 model of the same shape
//     (random ternary weights, packed offline) with its ratios to the int8 Llama (bench/results/cpu.json, cpu.md);
//   - batching: C = 1, 4, 8, 16 clients through the request path (`--concurrency`), float32 and int8, and C = 8 while
//     a 512-token prompt is admitted (`--admit-tokens 512`) (bench/results/batching.json, batching.md).
// Prints each table.
//   node --import tsx bench/run.ts [--threads N] [--runs R] [--quick] [--part engine|batching|all] [--gen-tokens G]
//                                  [--prompt-tokens P]   (batching; default G = 128, P = 32: the decode phase dominates)
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { benchBitNetModel } from "./bitnet-shapes.js";
import { SMOLLM_135M, benchModel } from "./shapes.js";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string" },
    runs: { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
    part: { type: "string", default: "all" },
    "gen-tokens": { type: "string", default: "128" },
    "prompt-tokens": { type: "string", default: "32" },
  },
});
const CLI = new URL("../packages/server/dist/cli.js", import.meta.url).pathname;
const models: [string, string][] = [["kjv-llama", EMBEDDED_MODEL_DIR], ["smollm-135m-shape", benchModel(SMOLLM_135M)]];
const machine = `${cpus()[0]?.model ?? "cpu"}, ${availableParallelism()} cores, Node.js ${process.version}`;
const out = new URL("./results/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

/** `actorlm bench ...args --json` in a fresh process: one JSON object per output line. */
function bench(args: string[]): Record<string, unknown>[] {
  const all = [CLI, "bench", ...args, "--json"];
  if (flags.threads !== undefined) all.push("--threads", flags.threads);
  const stdout = execFileSync(process.execPath, all, { encoding: "utf8", maxBuffer: 16 * 2 ** 20 });
  return stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A markdown table of `rows` over `columns`. */
function table(columns: string[], rows: Record<string, unknown>[]): string {
  return [`| ${columns.join(" | ")} |`, `|${columns.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${columns.map((c) => String(r[c] ?? "")).join(" | ")} |`)].join("\n");
}

if (flags.part === "all" || flags.part === "engine") {
  const rows: Record<string, unknown>[] = [];
  const dtypes = ["float32", "float16", "bfloat16", "int8"];
  const engineModels: [string, string, string[]][] = [
    ...models.map(([label, dir]): [string, string, string[]] => [label, dir, dtypes]),
    // dtype names the embeddings' and head's format of a BitNet model (ternary: bfloat16); int8 gives it the int8 Llama's head
    ["bitnet-b1.58-smollm-135m-shape", benchBitNetModel(SMOLLM_135M), ["ternary", "int8"]],
  ];
  for (const [label, dir, modelDtypes] of engineModels) {
    for (const dtype of flags.quick ? modelDtypes.slice(0, 1) : modelDtypes) {
      const [report] = bench(["--model", dir, "--dtype", dtype, "--runs", flags.runs]);
      rows.push({ ...report, model: label });
      console.log(`${label} ${dtype}: prefill ${report.prefill_tokens_per_s} tok/s, decode ${report.decode_tokens_per_s} tok/s (${report.bandwidth_fraction} of the bandwidth limit)`);
    }
  }
  const columns = [
    "model", "dtype", "threads", "simd", "runtime", "runtime_version", "prefill_tokens_per_s", "decode_tokens_per_s", "load_ms", "peak_rss_mb",
    "kernel_memory_high_water_mb", "weight_mb_per_token", "bandwidth_gb_per_s", "bandwidth_fraction", "peak_kind", "peak_per_thread", "prefill_gflops",
    "prefill_peak_fraction", "ternary_bits_per_weight",
  ];
  const text = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; P = 128, G = 128, batch 1.\n\n${table(columns, rows)}${versusInt8(rows)}`;
  writeFileSync(`${out}cpu.json`, `${JSON.stringify({ machine, rows }, null, 2)}\n`);
  writeFileSync(`${out}cpu.md`, `${text}\n`);
  console.log(`\n${text}\n`);
}

/** The BitNet model's decode and prefill throughput over the int8 SmolLM-shaped Llama's, measured in this run. */
function versusInt8(rows: Record<string, unknown>[]): string {
  const int8 = rows.find((r) => r.model === "smollm-135m-shape" && r.dtype === "int8");
  if (int8 === undefined) return "";
  return rows.filter((r) => r.model === "bitnet-b1.58-smollm-135m-shape").map((b) => {
    const ratio = (key: string) => ((b[key] as number) / (int8[key] as number)).toFixed(2);
    return `\n\nBitNet b1.58 (dtype ${String(b.dtype)}) vs the int8 Llama of the same shape: decode × ${ratio("decode_tokens_per_s")}, prefill × ${ratio("prefill_tokens_per_s")}.`;
  }).join("");
}

if (flags.part === "all" || flags.part === "batching") {
  const G = flags["gen-tokens"], P = flags["prompt-tokens"];
  const runs = flags.quick ? "1" : String(Math.min(Number(flags.runs), 3));
  const rows: Record<string, unknown>[] = [];
  for (const [label, dir] of models) {
    for (const dtype of flags.quick ? ["float32"] : ["float32", "int8"]) {
      const levels = bench(["--model", dir, "--dtype", dtype, "--concurrency", "1,4,8,16", "--prompt-tokens", P, "--gen-tokens", G, "--runs", runs]);
      const one = levels.find((r) => r.concurrency === 1)!.aggregate_decode_tokens_per_s as number;
      for (const r of levels) {
        rows.push({ ...r, model: label, speedup: ((r.aggregate_decode_tokens_per_s as number) / one).toFixed(2) });
        console.log(`${label} ${dtype} C=${r.concurrency}: ${r.aggregate_decode_tokens_per_s} tok/s aggregate, ITL p50 ${r.itl_p50_ms} / p99 ${r.itl_p99_ms} ms`);
      }
      const [admit] = bench(["--model", dir, "--dtype", dtype, "--concurrency", "8", "--admit-tokens", "512", "--prompt-tokens", P, "--gen-tokens", G, "--runs", runs]);
      rows.push({ ...admit, model: label, speedup: "" });
      console.log(`${label} ${dtype} C=8 admitting 512: ITL p50 ${admit.admit_itl_p50_ms} / p99 ${admit.admit_itl_p99_ms} ms`);
    }
  }
  const columns = [
    "model", "dtype", "concurrency", "aggregate_decode_tokens_per_s", "speedup", "per_request_tokens_per_s", "ttft_p50_ms", "ttft_p99_ms",
    "itl_p50_ms", "itl_p99_ms", "engine_itl_p50_ms", "engine_itl_p99_ms", "admit_prompt_tokens", "admit_ttft_ms", "admit_itl_p50_ms",
    "admit_itl_p99_ms", "admit_engine_itl_p50_ms", "admit_engine_itl_p99_ms", "decode_gflops", "decode_peak_fraction", "kv_cache_tokens",
    "kernel_memory_high_water_mb", "runtime", "runtime_version", "simd",
  ];
  const text = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; P = ${P}, G = ${G}, greedy, eos ignored; median of ${runs} run(s). speedup: aggregate decode over C = 1.\n\n${table(columns, rows)}`;
  writeFileSync(`${out}batching.json`, `${JSON.stringify({ machine, rows }, null, 2)}\n`);
  writeFileSync(`${out}batching.md`, `${text}\n`);
  console.log(`\n${text}`);
}
