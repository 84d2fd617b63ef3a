// `actorlm bench --concurrency C`: C clients, each generating G tokens through the real request path (the
// streaming handler on this thread, the model's scheduler in its worker), all started at once; and, optionally, one
// more request with a long prompt submitted once every client decodes, to see what admitting it does to their
// inter-token latency. Timing is what the clients see: when each output reaches them.
import { performance } from "node:perf_hooks";
import { InferenceBuilder, type ModelHost } from "@actorlm/runtime";
import { streamingHandler, type GenerateRequest, type GrammarSpec, type LlmEngine, type StepRecord, type TokenOutput } from "@actorlm/llm";

/** What one load test measured. */
export interface LoadReport {
  /** Tokens all clients received per second while every one of them was decoding. */
  aggregateDecodeTokensPerS: number;
  /** Each client's decode rate (tokens after its first, over the time since its first), median over clients. */
  perRequestTokensPerS: number;
  /** From submitting a request to its first output (ms). */
  ttftP50Ms: number;
  ttftP99Ms: number;
  /** Between two outputs of one client (ms), over every client. */
  itlP50Ms: number;
  itlP99Ms: number;
  /**
   * Between the ends of two consecutive steps in the model worker (ms), while every client decodes: the inter-token
   * latency the scheduler gives, without the hop to the clients' thread (which can bunch outputs on a busy machine).
   */
  engineItlP50Ms: number;
  engineItlP99Ms: number;
  /**
   * With a long prompt admitted mid-run: its time to first output, and the clients' inter-token latency meanwhile
   * (as they see it, and in the engine).
   */
  admission?: { ttftMs: number; itlP50Ms: number; itlP99Ms: number; engineItlP50Ms: number; engineItlP99Ms: number; samples: number };
}

/** How to load the model. */
export interface LoadOptions {
  concurrency: number;
  promptTokens: number;
  genTokens: number;
  /** Prompt tokens of the request admitted mid-run (0: none). */
  admitTokens: number;
  /** Seeds the prompts (random token ids, decoded to text). */
  seed: number;
  /** A grammar every client's output follows (constrained decoding); none by default. */
  grammar?: GrammarSpec;
}

/** The p-th percentile (0..100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A prompt of about `tokens` tokens: seeded random ids decoded to text and cut to length once re-tokenized. */
async function promptOf(host: ModelHost<LlmEngine>, tokens: number, seed: number): Promise<string> {
  const { vocabSize } = await host.call("info");
  let state = seed >>> 0 || 1;
  const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  const vocab = Math.min(vocabSize, 4096);
  const text = await host.call("decode", Array.from({ length: tokens }, () => 2 + (random() % (vocab - 2))));
  const ids = await host.call("encode", text, false);
  return host.call("decode", ids.slice(0, Math.max(1, tokens - 1))); // bos makes up the last token
}

/** Runs one load test on `host` (a loaded model). */
export async function loadTest(host: ModelHost<LlmEngine>, options: LoadOptions): Promise<LoadReport> {
  const { concurrency: C, genTokens: G } = options;
  const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
  try {
    const prompts = await Promise.all(Array.from({ length: C }, (_, i) => promptOf(host, options.promptTokens, options.seed + i)));
    const longPrompt = options.admitTokens > 0 ? await promptOf(host, options.admitTokens, options.seed + C) : undefined;
    const arrivals: number[][] = prompts.map(() => []);
    let decoding = 0;
    let admit: Promise<{ submitted: number; first: number }> | undefined;
    const started = performance.now();
    const clients = prompts.map(async (prompt, i) => {
      const request: GenerateRequest = { prompt, maxTokens: G, temperature: 0, ignoreEos: true, grammar: options.grammar };
      for await (const _ of inference.infer(request).spawn().stream) {
        arrivals[i].push(performance.now());
        if (arrivals[i].length === 2 && ++decoding === C && longPrompt !== undefined) admit = admitOne(inference, longPrompt);
      }
    });
    await Promise.all(clients);
    const admitted = admit === undefined ? undefined : await admit;
    return summarize(arrivals, started, G, admitted, await host.call("recentSteps"));
  } finally {
    await inference.close();
  }
}

/** Submits the long prompt (one output wanted) and resolves with when it was submitted and when its output came. */
async function admitOne(inference: { infer(r: GenerateRequest): { run(): Promise<TokenOutput[]> } }, prompt: string): Promise<{ submitted: number; first: number }> {
  const submitted = performance.now();
  await inference.infer({ prompt, maxTokens: 1, temperature: 0 }).run();
  return { submitted, first: performance.now() };
}

/** Intervals between the ends of consecutive steps that ended after `from` and by `to` (this thread's clock, ms). */
function stepIntervals(steps: readonly StepRecord[], from: number, to: number): number[] {
  const origin = performance.timeOrigin; // steps are stamped in epoch ms: the worker's clock has another origin
  const ends = steps.map((s) => s.end - origin).filter((t) => t > from && t <= to);
  return ends.slice(1).map((t, k) => t - ends[k]);
}

function summarize(arrivals: number[][], started: number, G: number, admitted: { submitted: number; first: number } | undefined, steps: readonly StepRecord[]): LoadReport {
  const firsts = arrivals.map((a) => a[0]), lasts = arrivals.map((a) => a.at(-1)!);
  const gaps = arrivals.flatMap((a) => a.slice(1).map((t, k) => t - a[k]));
  // steady state: from the moment the last client got its first output to the moment the first client finished
  const from = Math.max(...firsts), to = Math.min(...lasts);
  const inWindow = arrivals.reduce((n, a) => n + a.filter((t) => t > from && t <= to).length, 0);
  const aggregate = to - from > 0 && inWindow >= arrivals.length
    ? (inWindow * 1000) / (to - from)
    : (arrivals.length * (G - 1) * 1000) / (Math.max(...lasts) - Math.min(...firsts));
  const perRequest = arrivals.map((a) => ((a.length - 1) * 1000) / (a.at(-1)! - a[0]));
  const engine = stepIntervals(steps, from, to);
  const report: LoadReport = {
    aggregateDecodeTokensPerS: aggregate,
    perRequestTokensPerS: percentile(perRequest, 50),
    ttftP50Ms: percentile(firsts.map((t) => t - started), 50),
    ttftP99Ms: percentile(firsts.map((t) => t - started), 99),
    itlP50Ms: percentile(gaps, 50),
    itlP99Ms: percentile(gaps, 99),
    engineItlP50Ms: percentile(engine, 50),
    engineItlP99Ms: percentile(engine, 99),
  };
  if (admitted !== undefined) {
    // gaps that end while the long prompt was being admitted
    const during = arrivals.flatMap((a) => a.slice(1).flatMap((t, k) => (t > admitted.submitted && t <= admitted.first ? [t - a[k]] : [])));
    const inEngine = stepIntervals(steps, admitted.submitted, admitted.first);
    report.admission = {
      ttftMs: admitted.first - admitted.submitted,
      itlP50Ms: percentile(during, 50),
      itlP99Ms: percentile(during, 99),
      engineItlP50Ms: percentile(inEngine, 50),
      engineItlP99Ms: percentile(inEngine, 99),
      samples: during.length,
    };
  }
  return report;
}
