#!/usr/bin/env node
// Node.js 24 beside the Node.js running this script: `actorlm bench --json` on kjv-llama (each dtype) and the
// SmolLM-135M shape (float32, bfloat16, int8), alternating the two runtimes config by config, `--rounds` times, so
// that both see the same machine load (on a shared machine a run of one version after the other does not). Reports
// each side's best round and writes bench/results/node-versions.md. After `npm run build` and `npm run bench` (which
// writes the SmolLM-shaped model under bench/.models/).
//   node bench/node-versions.mjs [--rounds 3] [--runs 3] [--other node24]
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { runtime } from "../test/runtimes/fetch.mjs";

const { values: flags } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, runs: { type: "string", default: "3" }, other: { type: "string", default: "node24" } },
});
const cli = new URL("../packages/server/dist/cli.js", import.meta.url).pathname;
const smollm = new URL("./.models/smollm-135m-shape-bf16", import.meta.url).pathname;
if (!existsSync(smollm)) throw new Error(`${smollm} is missing: run npm run bench first (it writes the SmolLM-shaped model)`);
const nodes = [["this", process.execPath], [flags.other, runtime(flags.other)]];
const versions = nodes.map(([, bin]) => execFileSync(bin, ["--version"], { encoding: "utf8" }).trim());
const configs = [
  ...["float32", "float16", "bfloat16", "int8"].map((dtype) => ["kjv-llama", "", dtype]),
  ...["float32", "bfloat16", "int8"].map((dtype) => ["SmolLM-135M shape", smollm, dtype]),
];

/** best[config][node] = the round with the highest decode rate. */
const best = configs.map(() => nodes.map(() => undefined));
for (let round = 0; round < Number(flags.rounds); round++) {
  configs.forEach(([label, dir, dtype], c) => {
    nodes.forEach(([, bin], n) => {
      const args = [cli, "bench", "--dtype", dtype, "--runs", flags.runs, "--json", ...(dir ? ["--model", dir] : [])];
      const r = JSON.parse(execFileSync(bin, args, { encoding: "utf8" }).trim().split("\n").pop());
      if (best[c][n] === undefined || r.decode_tokens_per_s > best[c][n].decode_tokens_per_s) best[c][n] = r;
      console.log(`round ${round + 1} ${label} ${dtype} ${versions[n]}: prefill ${r.prefill_tokens_per_s}, decode ${r.decode_tokens_per_s} tok/s (${r.simd} SIMD)`);
    });
  });
}

const head = `| model | dtype | ${versions.map((v) => `${v} prefill tok/s | ${v} decode tok/s`).join(" | ")} | decode ${versions[1]} ÷ ${versions[0]} |`;
const rows = configs.map(([label, , dtype], c) => {
  const [a, b] = best[c];
  return `| ${label} | ${dtype} | ${a.prefill_tokens_per_s} | ${a.decode_tokens_per_s} | ${b.prefill_tokens_per_s} | ${b.decode_tokens_per_s} | ${(b.decode_tokens_per_s / a.decode_tokens_per_s).toFixed(2)} |`;
});
const simd = nodes.map((_, n) => `${versions[n]}: ${best[0][n].simd} SIMD`).join(", ");
const md = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? "cpu"}, ${availableParallelism()} cores (${simd}); P = 128, G = 128, batch 1, ${flags.runs} runs per round, best of ${flags.rounds} rounds, the two runtimes alternating.`,
  "",
  head,
  `|${"---|".repeat(5 + 2)}`,
  ...rows,
  "",
].join("\n");
writeFileSync(new URL("./results/node-versions.md", import.meta.url), md);
console.log(`\n${md}`);
