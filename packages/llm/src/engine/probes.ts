// Probes: work that runs the model outside the batch — scoring a window of ids (perplexity) and timing the engine
// alone (benchmark). Both borrow KV blocks from the scheduler's block manager and give them back, and run their
// forwards through the scheduler's guard, between two steps.
import { InferenceError, integerSetting } from "@actorlm/runtime";
import { firstNonFinite } from "@actorlm/tensor";
import { LlmError, nonFiniteLogits } from "../errors.js";
import type { KvSequence } from "../generation/block-manager.js";
import type { Scheduler } from "../generation/scheduler.js";
import type { CausalLM } from "../models/causal-lm.js";
import { logSumExp } from "../sampling/processors.js";
import { checkIds } from "./requests.js";

/** Positions `score` runs through the model per forward pass: bounds its [rows, vocab] logits scratch. */
const SCORE_CHUNK = 64;

/** A scored window: summed negative log-likelihood of its predicted tokens and how many there were. */
export interface WindowScore {
  nll: number;
  count: number;
}

/** What a benchmark measured, per run. */
export interface BenchmarkTimes {
  /** Milliseconds of each run's prefill (one forward over the prompt). */
  prefillMs: number[];
  /** Milliseconds of each run's decode (`genTokens` one-token forwards, each followed by an argmax). */
  decodeMs: number[];
}

/** What a benchmark runs: `runs` times a prompt of `promptTokens` seeded random ids, then `genTokens` greedy tokens. */
export interface BenchmarkOptions {
  promptTokens: number;
  genTokens: number;
  runs: number;
  seed?: number;
}

/** What the probes need of the engine: its model, its scheduler, and the limits they are checked against. */
export interface ProbeTarget {
  readonly lm: CausalLM;
  readonly scheduler: Scheduler;
  readonly maxSequenceLength: number;
  /** Ids a benchmark's random prompt draws from (the tokenizer's and the model's vocabularies, the smaller). */
  readonly sampleVocab: number;
}

/**
 * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
 * context): the summed negative log-probability of ids[1..] and how many were scored. NON_FINITE naming the
 * position when the model's logits hold NaN or ±inf.
 */
export function scoreWindow(target: ProbeTarget, ids: number[]): WindowScore {
  const { lm, scheduler, maxSequenceLength } = target;
  const vocabSize = lm.config.vocabSize;
  if (!Array.isArray(ids) || ids.length > maxSequenceLength) {
    throw new LlmError("VALIDATION", `ids: must be an array of 2 .. ${maxSequenceLength} token ids`, { field: ["ids"] });
  }
  checkIds(ids, "ids", 2, vocabSize);
  // ids[0 .. n-2] go through the cache a chunk at a time; row r of a chunk's logits predicts the id after it
  const inputs = ids.length - 1;
  const kv = borrow(target, inputs);
  const chunkSize = Math.min(SCORE_CHUNK, lm.maxLogitRows, lm.maxBatchTokens);
  let nll = 0;
  try {
    for (let from = 0; from < inputs; from += chunkSize) {
      const chunk = ids.slice(from, Math.min(from + chunkSize, inputs));
      const logits = scheduler.forwardOutside([{ tokens: chunk, start: from, blocks: kv.blocks, logits: "all" }]);
      for (let r = 0; r < chunk.length; r++) {
        const row = logits.subarray(r * vocabSize, (r + 1) * vocabSize);
        const bad = firstNonFinite(row);
        if (bad >= 0) throw nonFiniteLogits(row[bad], bad, from + r);
        nll -= row[ids[from + r + 1]] - logSumExp(row);
      }
    }
  } finally {
    scheduler.giveBack(kv);
  }
  return { nll, count: inputs };
}

/**
 * Times the engine alone (no sampling, detokenizing or messaging): `runs` times, a forward over `promptTokens`
 * seeded random ids, then `genTokens` greedy one-token forwards (end-of-sequence ignored).
 */
export function benchmark(target: ProbeTarget, options: BenchmarkOptions): BenchmarkTimes {
  const { lm, scheduler, maxSequenceLength, sampleVocab: vocab } = target;
  const P = integerSetting("promptTokens", options?.promptTokens, 1), G = integerSetting("genTokens", options?.genTokens, 1);
  const runs = integerSetting("runs", options?.runs, 1);
  if (P + G > maxSequenceLength) {
    throw new LlmError("VALIDATION", `genTokens: promptTokens + genTokens (${P + G}) exceeds the max sequence length ${maxSequenceLength}`, { field: ["genTokens"] });
  }
  const kv = borrow(target, P + G);
  let state = (options.seed ?? 1) >>> 0 || 1;
  const prompt = Array.from({ length: P }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % vocab;
  });
  const times: BenchmarkTimes = { prefillMs: [], decodeMs: [] };
  try {
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now();
      let logits: Float32Array<ArrayBufferLike> = new Float32Array(0);
      for (let from = 0; from < P; from += lm.maxBatchTokens) {
        const tokens = prompt.slice(from, from + lm.maxBatchTokens);
        logits = scheduler.forwardOutside([{ tokens, start: from, blocks: kv.blocks, logits: from + tokens.length === P ? "last" : "none" }]);
      }
      const t1 = performance.now();
      for (let g = 0; g < G; g++) {
        const next = argmax(logits.subarray(0, vocab));
        logits = scheduler.forwardOutside([{ tokens: [next], start: P + g, blocks: kv.blocks }]);
      }
      times.prefillMs.push(t1 - t0);
      times.decodeMs.push(performance.now() - t1);
    }
  } finally {
    scheduler.giveBack(kv);
  }
  return times;
}

/**
 * KV blocks for `positions` positions, borrowed from the scheduler's block manager outside the batch: running
 * requests give theirs back if need be (they run their tokens again later). OVERLOADED when the whole pool is too small.
 */
function borrow(target: ProbeTarget, positions: number): KvSequence {
  const kv = target.scheduler.borrow(positions);
  if (kv === undefined) throw new InferenceError("OVERLOADED", `the KV cache has no room for ${positions} positions (it holds ${target.lm.kv.capacityTokens})`);
  return kv;
}

/** Index of the largest value (the first on ties). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}
