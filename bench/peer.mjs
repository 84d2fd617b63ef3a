#!/usr/bin/env node
// actorlm beside transformers.js (onnxruntime-node) on the same weights, interleaved config by config and round by
// round so that both engines see the same machine load. Single stream (P = 128, G = 128: prefill and decode tokens/s,
// with actorlm's prefill share of the SIMD arithmetic peak) on kjv-llama and the SmolLM-135M shape (float32 vs fp32,
// int8 vs q8), and batched greedy decode on the SmolLM shape (aggregate tokens/s at 1, 8 and 16 streams, P = 32,
// G = 64). Each side's best round is reported; bench/results/peer-node<major>.md and .json are written.
//
// transformers.js runs two exports of each model: "all", the head on every prompt position (the optimum-style export
// the kernels issue measured), and "last", the head on the last position only (`--logits-to-keep`: the same work as
// ours, and much faster prefill on a small-bodied model whose head is a large share of it). Batched decode uses "last".
//
// The peer is the workplace tool ../shared/tools/transformersjs-peer (its setup.sh installs transformers.js into
// $TJS_HOME, default /tmp/transformersjs-peer); it is not part of the repository, so pass --peer DIR elsewhere. The
// ONNX exports of our weights (fp32 and q8) are written once under bench/.models/onnx/ by its export_onnx.py
// (PyTorch from Debian, /usr/bin/python3).
// After `npm run build` and `npm run bench` (which writes the SmolLM-shaped model).
//   node bench/peer.mjs [--rounds 3] [--node this|node24] [--part single|batched|all] [--peer DIR]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";
import { runtime } from "../test/runtimes/fetch.mjs";

const root = new URL("../", import.meta.url).pathname;
const { values: flags } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    node: { type: "string", default: "this" },
    part: { type: "string", default: "all" },
    peer: { type: "string", default: process.env.ACTORLM_TJS_PEER ?? `${root}../shared/tools/transformersjs-peer` },
    threads: { type: "string", default: "2" },
  },
});
if (!existsSync(`${flags.peer}/bench.mjs`)) throw new Error(`no transformers.js peer at ${flags.peer}: pass --peer DIR`);
const node = flags.node === "this" ? process.execPath : runtime(flags.node);
const nodeVersion = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
const cli = `${root}packages/server/dist/cli.js`;
const models = { "kjv-llama": `${root}models/kjv-llama`, "smollm-135m-shape": `${root}bench/.models/smollm-135m-shape-bf16` };
if (!existsSync(models["smollm-135m-shape"])) throw new Error("the SmolLM-shaped model is missing: run npm run bench first");

/** The ONNX export of `label`'s weights (fp32 and q8) with the head on `head` ("all" or "last") positions, made on first use. */
function onnx(label, head) {
  const dir = `${root}bench/.models/onnx/${label}-${head}`;
  if (!existsSync(`${dir}/onnx/model_quantized.onnx`)) {
    mkdirSync(`${root}bench/.models/onnx`, { recursive: true });
    console.error(`exporting ${label} to ONNX (fp32 and q8, head on ${head} positions) ...`);
    const keep = head === "last" ? ["--logits-to-keep"] : [];
    execFileSync("/usr/bin/python3", [`${flags.peer}/export_onnx.py`, models[label], dir, "--q8", ...keep], { stdio: "inherit" });
  }
  return dir;
}

/** The last JSON line a command prints. */
function json(bin, args) {
  const out = execFileSync(bin, args, { encoding: "utf8", maxBuffer: 64 * 2 ** 20, stdio: ["ignore", "pipe", "ignore"] });
  return out.trim().split("\n").filter((l) => l.startsWith("{"));
}

const single = [
  ["kjv-llama", "float32", "fp32"],
  ["kjv-llama", "int8", "q8"],
  ["smollm-135m-shape", "float32", "fp32"],
  ["smollm-135m-shape", "int8", "q8"],
];
const batched = [["smollm-135m-shape", "float32", "fp32"], ["smollm-135m-shape", "int8", "q8"]];
const streams = [1, 8, 16];
const better = (a, b, key) => (a === undefined || b[key] > a[key] ? b : a);
const heads = ["all", "last"];
const ours = {}, theirs = { all: {}, last: {} };

for (let round = 1; round <= Number(flags.rounds); round++) {
  if (flags.part !== "batched") {
    for (const [label, dtype, peerDtype] of single) {
      const key = `${label} ${dtype}`;
      const [line] = json(node, [cli, "bench", "--model", models[label], "--dtype", dtype, "--runs", "3", "--threads", flags.threads, "--json"]);
      const a = JSON.parse(line);
      ours[key] = better(ours[key], a, "prefill_tokens_per_s");
      const peer = heads.map((head) => {
        const b = JSON.parse(json(node, [`${flags.peer}/bench.mjs`, onnx(label, head), "--dtype", peerDtype, "--threads", flags.threads, "--reps", "3", "--wait-idle", "20"]).pop()).runs[0];
        theirs[head][key] = better(theirs[head][key], b, "prefill_tok_s");
        return `${b.prefill_tok_s} / ${b.decode_tok_s} (head on ${head})`;
      });
      console.log(`round ${round} ${key}: actorlm ${a.prefill_tokens_per_s} / ${a.decode_tokens_per_s}, transformers.js ${peerDtype} ${peer.join(", ")} tok/s`);
    }
  }
  if (flags.part !== "single") {
    for (const [label, dtype, peerDtype] of batched) {
      const key = `${label} ${dtype} batched`;
      const levels = json(node, [cli, "bench", "--model", models[label], "--dtype", dtype, "--concurrency", streams.join(","), "--prompt-tokens", "32", "--gen-tokens", "64", "--runs", "1", "--threads", flags.threads, "--json"]).map((l) => JSON.parse(l));
      ours[key] ??= {};
      for (const r of levels) ours[key][r.concurrency] = better(ours[key][r.concurrency], r, "aggregate_decode_tokens_per_s");
      const peer = JSON.parse(json(node, [`${flags.peer}/batch-bench.mjs`, onnx(label, "last"), "--dtype", peerDtype, "--batches", streams.join(","), "--P", "32", "--G", "64", "--reps", "1", "--threads", flags.threads, "--wait-idle", "20"]).pop());
      theirs.last[key] ??= {};
      for (const r of peer.runs) theirs.last[key][r.batch] = better(theirs.last[key][r.batch], r, "agg_decode_tok_s");
      console.log(`round ${round} ${key}: actorlm ${levels.map((r) => `C=${r.concurrency} ${r.aggregate_decode_tokens_per_s}`).join(", ")}; transformers.js ${peer.runs.map((r) => `B=${r.batch} ${r.agg_decode_tok_s}`).join(", ")}`);
    }
  }
}

const x = (a, b) => (b > 0 ? (a / b).toFixed(2) : "");
const lines = [`Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? "cpu"}, ${availableParallelism()} cores, ${nodeVersion}, ${flags.threads} threads each; best of ${flags.rounds} interleaved rounds per side. transformers.js 4.3.1 on onnxruntime-node, ONNX exported from the same safetensors.`, ""];
if (flags.part !== "batched") {
  lines.push("Single stream, P = 128, G = 128 (tokens/s):", "");
  lines.push("| model | actorlm dtype | actorlm prefill / decode | prefill share of peak | transformers.js | head on every position: prefill / decode | ratio | head on the last position: prefill / decode | ratio |", "|---|---|---|---|---|---|---|---|---|");
  for (const [label, dtype, peerDtype] of single) {
    const key = `${label} ${dtype}`, a = ours[key];
    const cells = heads.map((head) => {
      const b = theirs[head][key];
      return `${b.prefill_tok_s} / ${b.decode_tok_s} | ×${x(a.prefill_tokens_per_s, b.prefill_tok_s)} / ×${x(a.decode_tokens_per_s, b.decode_tok_s)}`;
    });
    lines.push(`| ${label} | ${dtype} | ${a.prefill_tokens_per_s} / ${a.decode_tokens_per_s} | ${a.prefill_peak_fraction ?? ""} | ${peerDtype} | ${cells.join(" | ")} |`);
  }
  lines.push("");
}
if (flags.part !== "single") {
  lines.push("Batched greedy decode, SmolLM-135M shape, P = 32, G = 64 (aggregate tokens/s; actorlm: C concurrent requests through the request path; transformers.js: one `generate` of batch B):", "");
  lines.push("| dtype | streams | actorlm | × its 1 stream | decode share of peak | transformers.js | ratio |", "|---|---|---|---|---|---|---|");
  for (const [label, dtype, peerDtype] of batched) {
    const a = ours[`${label} ${dtype} batched`], b = theirs.last[`${label} ${dtype} batched`];
    for (const c of streams) {
      lines.push(`| ${dtype} / ${peerDtype} | ${c} | ${a[c].aggregate_decode_tokens_per_s} | ×${x(a[c].aggregate_decode_tokens_per_s, a[1].aggregate_decode_tokens_per_s)} | ${a[c].decode_peak_fraction ?? ""} | ${b[c].agg_decode_tok_s} | ×${x(a[c].aggregate_decode_tokens_per_s, b[c].agg_decode_tok_s)} |`);
    }
  }
}
const text = lines.join("\n");
const major = nodeVersion.replace(/^v/, "").split(".")[0];
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/peer-node${major}.md`, `${text}\n`);
writeFileSync(`${root}bench/results/peer-node${major}.json`, `${JSON.stringify({ node: nodeVersion, ours, theirs }, null, 2)}\n`);
console.log(`\n${text}`);
