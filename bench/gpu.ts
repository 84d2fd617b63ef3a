// `npm run bench:gpu` (on a machine with a GPU): `actorlm bench --device gpu --json` on kjv-llama, the SmolLM-135M-shaped
// model and the Llama-3.2-1B-shaped model (float16 weights, written here with seeded random values), batch 1,
// P = 128, G = 128, each in a fresh process; then kjv-llama and the SmolLM shape again with the gpu.js kernels
// preferred where a WGSL one exists (ACTORLM_GPU_KERNELS=gpujs), which measures what the WGSL kernels buy. Prints a
// table and writes gpu.json and gpu.md to --out (default bench/results/).
//   node --import tsx bench/gpu.ts [--runs R] [--out DIR] [--quick]
// `--concurrency 8` is not measured: continuous batching (issue 9) has not landed on this branch's `actorlm bench`.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { LLAMA_1B, SMOLLM_135M, benchModel } from "./shapes.js";

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    out: { type: "string", default: new URL("./results/", import.meta.url).pathname },
    quick: { type: "boolean", default: false },
    cli: { type: "string", default: new URL("../packages/server/dist/cli.js", import.meta.url).pathname },
  },
});

interface Run {
  readonly model: string;
  readonly dir: () => string;
  readonly dtype: string;
  readonly kernels: "wgsl" | "gpujs";
}

const kjv = (): string => EMBEDDED_MODEL_DIR;
const smol = (): string => benchModel(SMOLLM_135M);
const llama1b = (): string => benchModel(LLAMA_1B, "F16");
const RUNS: Run[] = flags.quick
  ? [{ model: "kjv-llama", dir: kjv, dtype: "float32", kernels: "wgsl" }]
  : [
    { model: "kjv-llama", dir: kjv, dtype: "float32", kernels: "wgsl" },
    { model: "kjv-llama", dir: kjv, dtype: "float16", kernels: "wgsl" },
    { model: "smollm-135m-shape", dir: smol, dtype: "float32", kernels: "wgsl" },
    { model: "smollm-135m-shape", dir: smol, dtype: "float16", kernels: "wgsl" },
    { model: "llama-3.2-1b-shape", dir: llama1b, dtype: "float16", kernels: "wgsl" },
    { model: "kjv-llama", dir: kjv, dtype: "float32", kernels: "gpujs" },
    { model: "smollm-135m-shape", dir: smol, dtype: "float32", kernels: "gpujs" },
  ];

const rows: Record<string, unknown>[] = [];
for (const run of RUNS) {
  const args = [flags.cli, "bench", "--device", "gpu", "--model", run.dir(), "--dtype", run.dtype, "--prompt-tokens", "128", "--gen-tokens", "128", "--runs", flags.runs, "--json"];
  try {
    const stdout = execFileSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, ACTORLM_GPU_KERNELS: run.kernels }, stdio: ["ignore", "pipe", "inherit"] });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    rows.push({ ...report, path: report.model, model: run.model, kernels: run.kernels });
    console.log(`${run.model} ${run.dtype} (${run.kernels}): prefill ${report.prefill_tokens_per_s} tok/s, decode ${report.decode_tokens_per_s} tok/s, ${report.bandwidth_fraction} of ${report.bandwidth_gb_per_s} GB/s`);
  } catch (error) {
    rows.push({ model: run.model, kernels: run.kernels, dtype: run.dtype, error: error instanceof Error ? error.message.split("\n")[0] : String(error) });
    console.log(`${run.model} ${run.dtype} (${run.kernels}): FAILED`);
  }
}

const adapter = rows.find((r) => typeof r.adapter === "string")?.adapter ?? "no adapter";
const columns = ["model", "dtype", "kernels", "prefill_tokens_per_s", "decode_tokens_per_s", "load_ms", "kernel_memory_mb", "weight_mb_per_token", "bandwidth_gb_per_s", "bandwidth_fraction", "error"];
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${String(adapter)}, Node.js ${process.version}; P = 128, G = 128, batch 1, median of ${flags.runs} runs.`,
  "`kernels`: wgsl = the WGSL kernels where they exist (the default), gpujs = the gpu.js kernels wherever one exists.",
  "",
  `| ${columns.join(" | ")} |`,
  `|${columns.map(() => "---").join("|")}|`,
  ...rows.map((r) => `| ${columns.map((c) => (r[c] === undefined ? "" : String(r[c]))).join(" | ")} |`),
].join("\n");
mkdirSync(flags.out, { recursive: true });
writeFileSync(`${flags.out}/gpu.json`, `${JSON.stringify({ adapter, node: process.version, rows }, null, 2)}\n`);
writeFileSync(`${flags.out}/gpu.md`, `${table}\n`);
console.log(`\n${table}`);
