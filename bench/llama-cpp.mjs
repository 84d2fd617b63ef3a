// llama.cpp on a GGUF file, timed like `actorlm bench` (prefill of P prompt tokens, then G greedy tokens; median of
// --runs after one warm-up), for the comparison in README "GGUF files and 4-bit weights". node-llama-cpp is not a
// dependency: point ACTORLM_NODE_LLAMA_CPP at an installed node-llama-cpp package folder (see test/gguf/llama-cpp.test.ts).
//   ACTORLM_NODE_LLAMA_CPP=/path/node_modules/node-llama-cpp node bench/llama-cpp.mjs model.gguf [--threads 2] [--prompt-tokens 128] [--gen-tokens 64] [--runs 3]
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: "string", default: "2" }, "prompt-tokens": { type: "string", default: "128" },
    "gen-tokens": { type: "string", default: "64" }, runs: { type: "string", default: "3" },
  },
});
const pkg = process.env.ACTORLM_NODE_LLAMA_CPP;
if (pkg === undefined || positionals.length !== 1) {
  process.stderr.write("usage: ACTORLM_NODE_LLAMA_CPP=<node-llama-cpp folder> node bench/llama-cpp.mjs model.gguf [options]\n");
  process.exit(2);
}
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(join(pkg, "dist/index.js")).href);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: positionals[0] });
const P = Number(flags["prompt-tokens"]), G = Number(flags["gen-tokens"]), runs = Number(flags.runs), threads = Number(flags.threads);
const results = [];
for (let r = 0; r <= runs; r++) {
  const ctx = await model.createContext({ contextSize: P + G + 8, threads, batchSize: Math.max(P, 32) });
  const seq = ctx.getSequence();
  const prompt = Array.from({ length: P }, (_, i) => 5 + ((i * 7919 + r * 31) % 4000));
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const prefill = P / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  let n = 0;
  for await (const _token of seq.evaluate([prompt[P - 1]], { temperature: 0 })) if (++n >= G) break;
  const decode = G / ((performance.now() - t0) / 1000);
  if (r > 0) results.push({ prefill, decode });                   // the first run warms up
  await ctx.dispose();
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x * 10) / 10;
process.stdout.write(`${JSON.stringify({ engine: "llama.cpp", threads, prompt_tokens: P, gen_tokens: G, prefill_tokens_per_s: round(median(results.map((x) => x.prefill))), decode_tokens_per_s: round(median(results.map((x) => x.decode))) })}\n`);
process.exit(0);
