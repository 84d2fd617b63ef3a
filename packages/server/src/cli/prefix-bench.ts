// `actorlm bench --cached-prefix N` and `--chat-turns T`: what prefix caching buys, through the real request path
// (the streaming handler on this thread, the scheduler in the model worker). Prompts are seeded random token ids sent
// as ids (no re-tokenization between turns). Time to first token is what the client sees: submit to first output.
import { performance } from "node:perf_hooks";
import { InferenceBuilder, type Inference, type ModelHost } from "@actorlm/runtime";
import { streamingHandler, type GenerateRequest, type LlmEngine, type TokenOutput } from "@actorlm/llm";

/** A request with a cached prefix against the same request cold (medians over runs). */
export interface CachedPrefixReport {
  prefix_tokens: number;
  suffix_tokens: number;
  runs: number;
  cold_ttft_ms: number;
  cached_ttft_ms: number;
  /** cached / cold. */
  ttft_ratio: number;
  /** Prompt tokens the cached request found in the cache (median). */
  cached_tokens: number;
}

/** One turn of a chat whose whole history is sent again each turn. */
export interface ChatTurnReport {
  turn: number;
  prompt_tokens: number;
  /** Of them, found in the prefix cache. */
  cached_tokens: number;
  /** Of them, computed (prompt − cached). */
  prefilled_tokens: number;
  /** Tokens this turn adds to the history it was sent after (the last reply and the new user message). */
  new_tokens: number;
  ttft_ms: number;
}

/** Seeded random token ids (2 .. 4095: no bos or eos), after bos when the model has one. */
function randomIds(count: number, seed: number, vocab: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return 2 + (state % (vocab - 2));
  });
}

/** Runs `request`; its time to first output (ms) and the ids it generated. */
async function timed(inference: Inference<GenerateRequest, TokenOutput, never>, request: GenerateRequest): Promise<{ ttftMs: number; ids: number[] }> {
  const t0 = performance.now();
  let ttftMs = Number.NaN;
  const ids: number[] = [];
  const job = inference.infer(request).spawn();
  for await (const out of job.stream) {
    if (ids.length === 0) ttftMs = performance.now() - t0;
    ids.push(out.tokenId);
  }
  await job.join();
  return { ttftMs, ids };
}

/** Prompt tokens found cached while `run` ran. */
async function cachedDuring<T>(host: ModelHost<LlmEngine>, run: () => Promise<T>): Promise<{ result: T; cached: number }> {
  const before = (await host.call("stats")).cachedPromptTokens;
  const result = await run();
  return { result, cached: (await host.call("stats")).cachedPromptTokens - before };
}

/** The model's bos id as a prompt start, and how many ids random prompts may draw from. */
async function promptBasics(host: ModelHost<LlmEngine>): Promise<{ head: number[]; vocab: number }> {
  const info = await host.call("info");
  return { head: info.bosId === null ? [] : [info.bosId], vocab: Math.min(info.vocabSize, 4096) };
}

/**
 * `runs` times: a prompt of `prefix` + `suffix` tokens with a fresh prefix (cold: nothing cached), then the same
 * prefix with another suffix (its prefix's full blocks cached). One token each; one warm-up pair first.
 */
export async function cachedPrefixBench(host: ModelHost<LlmEngine>, prefix: number, suffix: number, runs: number): Promise<CachedPrefixReport> {
  const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
  try {
    const { head, vocab } = await promptBasics(host);
    const cold: number[] = [], warm: number[] = [], cached: number[] = [];
    for (let run = 0; run <= runs; run++) {
      const shared = [...head, ...randomIds(prefix - head.length, 1000 + run, vocab)];
      const request = (seed: number): GenerateRequest => ({ prompt: [...shared, ...randomIds(suffix, seed, vocab)], maxTokens: 1, temperature: 0, ignoreEos: true });
      const first = await timed(inference, request(5000 + run));
      const second = await cachedDuring(host, () => timed(inference, request(9000 + run)));
      if (run === 0) continue;                                             // warm-up
      cold.push(first.ttftMs);
      warm.push(second.result.ttftMs);
      cached.push(second.cached);
    }
    const coldMs = median(cold), warmMs = median(warm);
    return {
      prefix_tokens: prefix, suffix_tokens: suffix, runs, cold_ttft_ms: round(coldMs), cached_ttft_ms: round(warmMs),
      ttft_ratio: round(warmMs / coldMs, 3), cached_tokens: median(cached),
    };
  } finally {
    await inference.close();
  }
}

/**
 * A chat of `turns` turns: the first prompt has `first` tokens; each turn generates `reply` tokens, and the next
 * prompt is the whole history plus `user` new tokens.
 */
export async function chatBench(host: ModelHost<LlmEngine>, turns: number, first: number, reply: number, user: number): Promise<ChatTurnReport[]> {
  const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
  try {
    const { head, vocab } = await promptBasics(host);
    await timed(inference, { prompt: [...head, ...randomIds(first, 77, vocab)], maxTokens: 2, temperature: 0, ignoreEos: true }); // warm-up
    const reports: ChatTurnReport[] = [];
    let history = [...head, ...randomIds(first - head.length, 1, vocab)];
    let previous = 0;
    for (let turn = 1; turn <= turns; turn++) {
      const prompt = history;
      const { result, cached } = await cachedDuring(host, () => timed(inference, { prompt, maxTokens: reply, temperature: 0, ignoreEos: true }));
      reports.push({
        turn, prompt_tokens: prompt.length, cached_tokens: cached, prefilled_tokens: prompt.length - cached,
        new_tokens: prompt.length - previous, ttft_ms: round(result.ttftMs),
      });
      previous = prompt.length;
      history = [...prompt, ...result.ids, ...randomIds(user, 100 + turn, vocab)];
    }
    return reports;
  } finally {
    await inference.close();
  }
}

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `x` rounded to `digits` decimals. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
