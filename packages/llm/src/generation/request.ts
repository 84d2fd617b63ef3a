// Generation requests: the caller-facing shape, its validation, and the normalized sampling parameters.
import { formatFieldPath, type FieldPath } from "@actorlm/runtime";
import { LlmError } from "../errors.js";
import { refuseUnknownFields } from "../fields.js";
import { isObject } from "../json-file.js";
import { checkGrammarSpec, type GrammarSpec } from "../grammar/spec.js";
import { MAX_TOP_LOGPROBS, type TokenLogprob } from "../sampling/logprobs.js";

/** Most samples one request may ask for (`n`). */
export const MAX_SAMPLES = 16;

/** A text-generation request as a caller writes it (camelCase; absent or null fields take defaults). */
export interface GenerateRequest {
  /** The text to continue, or its token ids (used as given: no bos is added); must be non-empty. */
  prompt: string | readonly number[];
  /** Most new tokens to generate (≥ 1). */
  maxTokens?: number | null;
  /** Softmax temperature (≥ 0); 0 means greedy. Default 1. */
  temperature?: number | null;
  /** Keep only the k most likely tokens (integer ≥ 1). Default: off. */
  topK?: number | null;
  /** Nucleus sampling mass in (0, 1]. Default 1 (off). */
  topP?: number | null;
  /** Drop tokens less likely than minP × the top probability, in [0, 1). Default 0 (off). */
  minP?: number | null;
  /** HF repetition penalty (> 0); 1 is off. */
  repetitionPenalty?: number | null;
  /** OpenAI frequency penalty in [-2, 2]; 0 is off. */
  frequencyPenalty?: number | null;
  /** OpenAI presence penalty in [-2, 2]; 0 is off. */
  presencePenalty?: number | null;
  /** PRNG seed (a safe integer) for reproducible sampling; random when absent. */
  seed?: number | null;
  /** Strings that end generation; never emitted. */
  stop?: string[] | null;
  /**
   * Generate past end-of-sequence tokens (benchmarks: exactly maxTokens tokens). An eos token is then reported
   * like any other special token (`special: true`, no text) and only maxTokens or a stop string ends generation.
   */
  ignoreEos?: boolean | null;
  /**
   * A grammar the output must follow: a JSON Schema, any JSON object, a regular expression or an EBNF grammar
   * (see `GrammarSpec`). Masked tokens are never chosen, greedy or sampled; generation ends with "stop" when the
   * grammar is complete, "length" when maxTokens ends it first.
   */
  grammar?: GrammarSpec | null;
  /** Report each generated token's log-probability (the model's log-softmax, before any sampling processor). */
  logprobs?: boolean | null;
  /** With logprobs: also the most likely alternatives at each step (0 .. 20). Default 0. */
  topLogprobs?: number | null;
  /**
   * Independent samples of the prompt (1 .. 16), each with its own seed stream (`seed`, then seeds derived from it);
   * they share the prompt's KV blocks through the prefix cache. Taken by the handlers (`streamingHandler`
   * interleaves them, each output naming its `choice`); `LlamaModel.submit` runs one sample. Default 1.
   */
  n?: number | null;
}

/** Every field a {@link GenerateRequest} may have; any other is refused by name. */
export const REQUEST_FIELDS: readonly (keyof GenerateRequest)[] = Object.freeze([
  "prompt", "maxTokens", "temperature", "topK", "topP", "minP", "repetitionPenalty", "frequencyPenalty", "presencePenalty", "seed", "stop",
  "ignoreEos", "grammar", "logprobs", "topLogprobs", "n",
] as const);

/** Sampling parameters with every default filled in (the neutral value turns a step off). */
export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. */
  minP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** 0 = off. */
  frequencyPenalty: number;
  /** 0 = off. */
  presencePenalty: number;
  /** undefined = pick a random seed. */
  seed: number | undefined;
}

/**
 * A validated request: what to generate and how to sample it. The library makes one with {@link validateRequest};
 * the server's routes make one from their own parsed bodies. Either way it is checked once, where it enters.
 */
export interface NormalizedRequest {
  /** The text to continue, or its token ids (used as given). */
  prompt: string | readonly number[];
  /** As given, or null: as many as fit, up to the default (see {@link fitMaxTokens}). */
  maxTokens: number | null;
  stop: string[];
  sampling: SamplingParams;
  /** True: generation goes on past eos tokens (absent otherwise). */
  ignoreEos?: boolean;
  /** The checked grammar, when the request gives one. */
  grammar?: GrammarSpec;
  /** With logprobs: how many alternatives each step reports (0 .. 20); absent without logprobs. */
  topLogprobs?: number;
  /** Samples of the prompt, when more than one. */
  n?: number;
}

/**
 * A normalized request whose prompt was tokenized (once, off the model worker: see `tokenizeRequest`): what the
 * engine's `submit` takes. Its ids travel with it, so whoever tokenized it counts them without tokenizing again.
 */
export interface TokenizedRequest extends Omit<NormalizedRequest, "prompt"> {
  /** The prompt's token ids: its text's encoding (bos included), or the ids given as the prompt. */
  promptIds: readonly number[];
}

/** One generated token as streamed to the caller. */
export interface TokenOutput {
  /** The text this token adds (may be "" while a multi-byte character or a possible stop string is held back). */
  token: string;
  tokenId: number;
  /** 0-based position among the generated tokens. */
  index: number;
  /** True for a special token (eos): reported so callers see why generation ended, never rendered as text. */
  special: boolean;
  /** Why generation ended; present on the last output only. */
  finishReason?: FinishReason;
  /** With `logprobs`: this token's log-probability under the model. */
  logprob?: number;
  /** With `topLogprobs` > 0: the most likely tokens at this step, most likely first. */
  topLogprobs?: TokenLogprob[];
  /** With `n` > 1: which sample (0-based) this output belongs to. */
  choice?: number;
}

/** Why generation ended: an eos token or stop string ("stop"), or maxTokens / the context limit ("length"). */
export type FinishReason = "stop" | "length";

/** Server-side limits that validation checks against. */
export interface RequestLimits {
  /** Most tokens (prompt + new) one sequence may hold. */
  maxSequenceLength: number;
  /** Most stop strings one request may give. */
  maxStopSequences: number;
  /** maxTokens when the request gives none. Default 256 (capped by the room the prompt leaves). */
  defaultMaxTokens?: number;
  /**
   * Most UTF-8 bytes a prompt that fits can have (the tokenizer's longest token × the max sequence length, see
   * `ModelInfo.maxPromptBytes`); a longer prompt is refused before anyone tokenizes it. Default: no bound.
   */
  maxPromptBytes?: number;
}

/** Neutral sampling parameters (temperature 1, every filter off). */
export const DEFAULT_SAMPLING: Readonly<SamplingParams> = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  seed: undefined,
});

/** VALIDATION at `path`: the message is the field as the library writes it, then `detail`. */
const failAt = (path: FieldPath, detail: string): never => {
  throw new LlmError("VALIDATION", `${formatFieldPath(path)}: ${detail}`, { field: path });
};
const fail = (field: string, detail: string): never => failAt([field], detail);

/** Read an optional numeric field: undefined / null → undefined; non-numbers and non-finite values fail. */
function num(req: Record<string, unknown>, field: string): number | undefined {
  const v = req[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") fail(field, `must be a number, got ${typeof v}`);
  if (!Number.isFinite(v)) fail(field, "must be a finite number");
  return v as number;
}

/** Read an optional integer field. */
function int(req: Record<string, unknown>, field: string): number | undefined {
  const v = num(req, field);
  if (v !== undefined && !Number.isSafeInteger(v)) fail(field, `must be an integer, got ${v}`);
  return v;
}

/**
 * The library's one normalizer: checks a request and fills in defaults; throws LlmError("VALIDATION") naming the
 * first bad field. An unknown field is refused with a hint (`max_tokens: unknown field (did you mean maxTokens?)`); a
 * prompt longer than `limits.maxPromptBytes` bytes is refused without being tokenized. What needs the prompt's
 * tokens — its ids against the vocabulary, its length with maxTokens against the max sequence length — the engine
 * checks when the request is submitted ({@link fitMaxTokens}).
 */
export function validateRequest(req: unknown, limits: RequestLimits): NormalizedRequest {
  if (!isObject(req)) fail("request", "must be an object");
  const r = req as Record<string, unknown>;
  refuseUnknownFields(r, REQUEST_FIELDS);

  if (typeof r.prompt !== "string" && !Array.isArray(r.prompt)) fail("prompt", `must be a string or an array of token ids, got ${r.prompt === null ? "null" : typeof r.prompt}`);
  const prompt = r.prompt as string | readonly unknown[];
  if (prompt.length === 0) fail("prompt", "must not be empty");
  if (typeof prompt !== "string") {
    const bad = prompt.findIndex((id) => !Number.isSafeInteger(id) || (id as number) < 0);
    if (bad >= 0) fail("prompt", `${JSON.stringify(prompt[bad])} at ${bad} is not a token id`);
  }
  const maxBytes = limits.maxPromptBytes ?? Infinity;
  // A UTF-8 byte is at most 3 per UTF-16 unit: only a prompt that might be too long is measured.
  if (typeof prompt === "string" && prompt.length * 3 > maxBytes && Buffer.byteLength(prompt, "utf8") > maxBytes) {
    fail("prompt", `${Buffer.byteLength(prompt, "utf8")} bytes cannot fit in the max sequence length ${limits.maxSequenceLength} (at most ${maxBytes} bytes would)`);
  }

  const maxTokens = int(r, "maxTokens") ?? null;
  if (maxTokens !== null && maxTokens < 1) fail("maxTokens", `must be ≥ 1, got ${maxTokens}`);

  const s = { ...DEFAULT_SAMPLING };
  const temperature = num(r, "temperature");
  if (temperature !== undefined) s.temperature = temperature < 0 ? fail("temperature", `must be ≥ 0, got ${temperature}`) : temperature;
  const topK = int(r, "topK");
  if (topK !== undefined) s.topK = topK < 1 ? fail("topK", `must be ≥ 1, got ${topK}`) : topK;
  const topP = num(r, "topP");
  if (topP !== undefined) s.topP = topP <= 0 || topP > 1 ? fail("topP", `must be in (0, 1], got ${topP}`) : topP;
  const minP = num(r, "minP");
  if (minP !== undefined) s.minP = minP < 0 || minP >= 1 ? fail("minP", `must be in [0, 1), got ${minP}`) : minP;
  const rep = num(r, "repetitionPenalty");
  if (rep !== undefined) s.repetitionPenalty = rep <= 0 ? fail("repetitionPenalty", `must be > 0, got ${rep}`) : rep;
  for (const field of ["frequencyPenalty", "presencePenalty"] as const) {
    const v = num(r, field);
    if (v !== undefined) s[field] = v < -2 || v > 2 ? fail(field, `must be in [-2, 2], got ${v}`) : v;
  }
  s.seed = int(r, "seed");

  const ignoreEos = r.ignoreEos ?? false;
  if (typeof ignoreEos !== "boolean") fail("ignoreEos", `must be a boolean, got ${typeof ignoreEos}`);

  const logprobs = r.logprobs ?? false;
  if (typeof logprobs !== "boolean") fail("logprobs", `must be a boolean, got ${typeof logprobs}`);
  const top = int(r, "topLogprobs");
  if (top !== undefined && (top < 0 || top > MAX_TOP_LOGPROBS)) fail("topLogprobs", `must be in 0 .. ${MAX_TOP_LOGPROBS}, got ${top}`);
  if (top !== undefined && top > 0 && logprobs !== true) fail("topLogprobs", "needs logprobs: true");
  const n = int(r, "n") ?? 1;
  if (n < 1 || n > MAX_SAMPLES) fail("n", `must be in 1 .. ${MAX_SAMPLES}, got ${n}`);

  const normalized: NormalizedRequest = { prompt: prompt as string | readonly number[], maxTokens, stop: stopList(r.stop, limits.maxStopSequences), sampling: s };
  if (ignoreEos === true) normalized.ignoreEos = true;
  if (n > 1) normalized.n = n;
  if (r.grammar !== undefined && r.grammar !== null) normalized.grammar = checkGrammarSpec(r.grammar, "grammar");
  if (logprobs === true) normalized.topLogprobs = top ?? 0;
  return normalized;
}

/** Validate the stop list: an array of at most `max` non-empty strings (absent / null → []). */
function stopList(v: unknown, max: number): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail("stop", `must be an array of strings, got ${typeof v}`);
  const list = v as unknown[];
  if (list.length > max) fail("stop", `at most ${max} stop sequences, got ${list.length}`);
  list.forEach((x, i) => {
    if (typeof x !== "string") failAt(["stop", i], `must be a string, got ${typeof x}`);
    if ((x as string).length === 0) failAt(["stop", i], "must not be empty");
  });
  return [...(list as string[])];
}

/**
 * The number of new tokens a request may generate once its prompt is tokenized (the engine's check of a request's
 * length against the model): the requested maxTokens if prompt + maxTokens fits the max sequence length, or — when
 * none was requested — the default (256) shrunk to the room the prompt leaves. Throws VALIDATION naming `prompt` or
 * `maxTokens` when it does not fit; the message names no other field, so every API can put its own name first.
 */
export function fitMaxTokens(promptTokens: number, maxTokens: number | null, limits: Pick<RequestLimits, "maxSequenceLength" | "defaultMaxTokens">): number {
  const max = limits.maxSequenceLength;
  if (promptTokens >= max) fail("prompt", `${promptTokens} tokens leave no room to generate within the max sequence length ${max}`);
  const room = max - promptTokens;
  if (maxTokens === null) return Math.min(limits.defaultMaxTokens ?? 256, room);
  if (maxTokens > room) fail("maxTokens", `${maxTokens} new tokens after a prompt of ${promptTokens} tokens exceed the max sequence length ${max}`);
  return maxTokens;
}
