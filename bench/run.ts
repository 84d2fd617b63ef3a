// `npm run bench`: `actorlm bench --json` on the embedded model and on a SmolLM-135M-shaped model (written here
// with seeded random weights) for each dtype, and on a BitNet b1.58 model of the SmolLM-135M shape (random ternary
// weights, packed offline) stored ternary, each in a fresh process (so peak RSS is its own); prints a table and
// writes bench/results/cpu.json and cpu.md.
//   node --import tsx bench/run.ts [--threads N] [--runs R] [--quick]
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { benchBitNetModel } from "./bitnet-shapes.js";
import { SMOLLM_135M, benchModel } from "./shapes.js";

const { values: flags } = parseArgs({
  options: { threads: { type: "string" }, runs: { type: "string", default: "5" }, quick: { type: "boolean", default: false } },
});
const CLI = new URL("../packages/server/dist/cli.js", import.meta.url).pathname;
const dtypes = ["float32", "float16", "bfloat16", "int8"];
const models: [string, string, string[]][] = [
  ["kjv-llama", EMBEDDED_MODEL_DIR, dtypes], ["smollm-135m-shape", benchModel(SMOLLM_135M), dtypes],
  // dtype names the embeddings' and head's format of a BitNet model (ternary: bfloat16); int8 gives it the int8 Llama's head
  ["bitnet-b1.58-smollm-135m-shape", benchBitNetModel(SMOLLM_135M), ["ternary", "int8"]],
];

const rows: Record<string, unknown>[] = [];
for (const [label, dir, modelDtypes] of models) {
  for (const dtype of flags.quick ? modelDtypes.slice(0, 1) : modelDtypes) {
    const args = [CLI, "bench", "--model", dir, "--dtype", dtype, "--runs", flags.runs, "--json"];
    if (flags.threads !== undefined) args.push("--threads", flags.threads);
    const report = JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" })) as Record<string, unknown>;
    rows.push({ ...report, model: label });
    console.log(`${label} ${dtype}: prefill ${report.prefill_tokens_per_s} tok/s, decode ${report.decode_tokens_per_s} tok/s (${report.bandwidth_fraction} of the bandwidth limit)`);
  }
}

const machine = `${cpus()[0]?.model ?? "cpu"}, ${availableParallelism()} cores, Node.js ${process.version}`;
const columns = ["model", "dtype", "threads", "simd", "prefill_tokens_per_s", "decode_tokens_per_s", "load_ms", "peak_rss_mb", "weight_mb_per_token", "bandwidth_gb_per_s", "bandwidth_fraction", "ternary_bits_per_weight"];
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; P = 128, G = 128, batch 1.`,
  "",
  `| ${columns.join(" | ")} |`,
  `|${columns.map(() => "---").join("|")}|`,
  ...rows.map((r) => `| ${columns.map((c) => String(r[c] ?? "")).join(" | ")} |`),
  ...versusInt8(),
].join("\n");
/** The BitNet model's decode and prefill throughput over the int8 SmolLM-shaped Llama's, measured in this run. */
function versusInt8(): string[] {
  const int8 = rows.find((r) => r.model === "smollm-135m-shape" && r.dtype === "int8");
  const bitnet = rows.filter((r) => r.model === "bitnet-b1.58-smollm-135m-shape");
  if (int8 === undefined) return [];
  return ["", ...bitnet.map((b) => {
    const ratio = (key: string) => ((b[key] as number) / (int8[key] as number)).toFixed(2);
    return `BitNet b1.58 (dtype ${String(b.dtype)}) vs the int8 Llama of the same shape: decode × ${ratio("decode_tokens_per_s")}, prefill × ${ratio("prefill_tokens_per_s")}.`;
  })];
}

const out = new URL("./results/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
writeFileSync(`${out}cpu.json`, `${JSON.stringify({ machine, rows }, null, 2)}\n`);
writeFileSync(`${out}cpu.md`, `${table}\n`);
console.log(`\n${table}`);
