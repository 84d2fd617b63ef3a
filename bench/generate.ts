// Generation benchmark on the embedded model: load time, prefill and decode throughput (one stream and
// eight concurrent), perplexity throughput, memory. Prints numbers; asserts nothing.
//   node --import tsx bench/generate.ts [--tokens N]
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { InferenceBuilder, ModelHost } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlamaModel, generate, perplexityHandler, streamingHandler } from "@actorlm/llm";

const chapters = JSON.parse(readFileSync(new URL("../test/fixtures/heldout-chapters.json", import.meta.url), "utf8")) as { chapters: string[] };
const { values: flags } = parseArgs({ options: { tokens: { type: "string", default: "128" } } }); // unknown flags throw
const tokens = Number(flags.tokens);
if (!Number.isSafeInteger(tokens) || tokens < 1) throw new RangeError(`--tokens must be a positive integer, got ${flags.tokens}`);

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
const t0 = performance.now();
await using host = await ModelHost.start(LlamaModel, { model: EMBEDDED_MODEL_DIR });
const loadMs = performance.now() - t0;
await using inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
await using scorer = await new InferenceBuilder().withModel(host).build(perplexityHandler);

// warm-up (JIT)
await generate(inference, { prompt: "In the beginning", maxTokens: 16, temperature: 0 });

// one stream: time to first token (includes prefill) and decode rate
const prompt = chapters.chapters[1].slice(0, 1200);
const promptTokens = (await host.call("encode", prompt)).length;
const start = performance.now();
let first = 0;
let n = 0;
const job = inference.infer({ prompt, maxTokens: tokens, temperature: 0 }).spawn();
for await (const _ of job.stream) {
  if (n++ === 0) first = performance.now();
}
await job.join();
const end = performance.now();

// eight concurrent streams
const c0 = performance.now();
const results = await Promise.all(
  Array.from({ length: 8 }, (_, i) => generate(inference, { prompt: `Blessed are the ${i}`, maxTokens: tokens, temperature: 0.7, seed: i })),
);
const cMs = performance.now() - c0;
const cTokens = results.reduce((s, r) => s + r.tokenIds.length, 0);

// perplexity (teacher-forced, one pass)
const p0 = performance.now();
const [ppl] = await scorer.infer({ text: chapters.chapters[0] }).run();
const pMs = performance.now() - p0;

const rows: [string, string][] = [
  ["load (ms)", loadMs.toFixed(0)],
  [`prefill ${promptTokens} tokens, time to first token (ms)`, (first - start).toFixed(1)],
  ["prefill (tokens/s)", ((promptTokens * 1000) / (first - start)).toFixed(0)],
  [`decode, 1 stream, ${n} tokens (tokens/s)`, (((n - 1) * 1000) / (end - first)).toFixed(1)],
  [`decode, 8 concurrent streams, ${cTokens} tokens (tokens/s, aggregate)`, ((cTokens * 1000) / cMs).toFixed(1)],
  [`perplexity, ${ppl.nTokens} tokens (tokens/s)`, ((ppl.nTokens * 1000) / pMs).toFixed(0)],
  ["process RSS (MB)", mb(process.memoryUsage().rss)], // the whole process: the model worker's weights included
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
