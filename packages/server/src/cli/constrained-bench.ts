// `actorlm bench --constrained`: what constrained decoding costs. At each concurrency (1 and 8 by default), C clients
// generate G tokens through the request path unconstrained and under a JSON-records grammar, the two interleaved run
// by run on one loaded model; reported: both aggregate decode rates and their ratio, the grammar's compile time
// (first compile against the vocabulary on the grammar thread; the schema → EBNF conversion on a pool thread is timed
// apart), what each next-token mask took on the grammar thread and how long the model worker waited for one.
import { performance } from "node:perf_hooks";
import { grammarOffThread, type GrammarSpec } from "@actorlm/llm";
import { loadTest, percentile } from "./load-test.js";
import { median, round } from "./prefix-bench.js";
import type { ModelHost } from "@actorlm/runtime";
import type { LlmEngine } from "@actorlm/llm";

/** A typical schema: its conversion and compile times are reported. */
export const BENCH_SCHEMA: GrammarSpec = {
  type: "json_schema",
  schema: {
    type: "object",
    properties: {
      book: { type: "string" },
      chapter: { type: "integer", minimum: 1 },
      verses: { type: "array", items: { type: "object", properties: { n: { type: "integer" }, text: { type: "string" } }, required: ["n", "text"], additionalProperties: false } },
      tags: { type: "array", items: { enum: ["law", "prophets", "gospel"] } },
    },
    required: ["book", "chapter", "verses"],
    additionalProperties: false,
  },
};

/**
 * What the clients follow for the throughput runs: JSON records in a list that never closes, so every client is
 * masked at every one of its G tokens and none ends early (a schema's list could close, and end a client sooner).
 */
export const BENCH_STREAM_GRAMMAR: GrammarSpec = {
  type: "ebnf",
  grammar: [
    'root ::= "[" record (", " record)*',
    'record ::= "{\\"book\\": " string ", \\"chapter\\": " [1-9] [0-9]? ", \\"text\\": " string "}"',
    'string ::= "\\"" [^"\\\\\\n]* "\\""',
  ].join("\n"),
};

/** What one `--constrained` level reports (the `--json` object, one per concurrency). */
export interface ConstrainedReport {
  concurrency: number;
  prompt_tokens: number;
  gen_tokens: number;
  runs: number;
  unconstrained_tokens_per_s: number;
  constrained_tokens_per_s: number;
  /** constrained / unconstrained aggregate decode rate. */
  ratio: number;
  /** The bench schema's conversion to EBNF (pool thread) and its first compile against the vocabulary (model worker), ms. */
  schema_to_ebnf_ms: number;
  compile_ms: number;
  /** What one mask took on the grammar thread, ms. */
  mask_p50_ms: number;
  mask_p99_ms: number;
  /** How long the model worker waited for a mask the grammar thread had not written yet when it sampled (0: ready), ms. */
  wait_p50_ms: number;
  wait_p99_ms: number;
}

/** Runs the A/B at each concurrency in `levels` on `host`; `runs` interleaved pairs each, medians reported. */
export async function constrainedBench(host: ModelHost<LlmEngine>, levels: readonly number[], promptTokens: number, genTokens: number, runs: number): Promise<ConstrainedReport[]> {
  await grammarOffThread({ type: "regex", pattern: "warm-up" }); // the pool thread started, xgrammar loaded there
  const t0 = performance.now();
  await grammarOffThread(BENCH_SCHEMA); // converted once, then cached
  const toEbnf = performance.now() - t0;
  const before = await host.call("grammarStats");
  await loadTest(host, { concurrency: 1, promptTokens, genTokens: 4, admitTokens: 0, seed: 7, grammar: BENCH_SCHEMA }); // compiles it
  const compiled = await host.call("grammarStats");
  const compileMs = compiled.compileMs - before.compileMs;
  const reports: ConstrainedReport[] = [];
  for (const C of levels) {
    const free: number[] = [];
    const constrained: number[] = [];
    const start = await host.call("grammarStats");
    for (let run = 0; run < runs; run++) {
      const base = { concurrency: C, promptTokens, genTokens, admitTokens: 0, seed: 1 + 1000 * run };
      free.push((await loadTest(host, base)).aggregateDecodeTokensPerS);
      constrained.push((await loadTest(host, { ...base, grammar: BENCH_STREAM_GRAMMAR })).aggregateDecodeTokensPerS);
    }
    const stats = await host.call("grammarStats");
    const fresh = Math.min(stats.masks - start.masks, stats.recentMaskMs.length); // this level's masks
    const masks = stats.recentMaskMs.slice(-fresh);
    const waits = stats.recentWaitMs.slice(-fresh);
    reports.push({
      concurrency: C,
      prompt_tokens: promptTokens,
      gen_tokens: genTokens,
      runs,
      unconstrained_tokens_per_s: round(median(free), 1),
      constrained_tokens_per_s: round(median(constrained), 1),
      ratio: round(median(constrained) / median(free), 3),
      schema_to_ebnf_ms: round(toEbnf, 1),
      compile_ms: round(compileMs, 1),
      mask_p50_ms: round(percentile(masks, 50), 3),
      mask_p99_ms: round(percentile(masks, 99), 3),
      wait_p50_ms: round(percentile(waits, 50), 3),
      wait_p99_ms: round(percentile(waits, 99), 3),
    });
  }
  return reports;
}
