// The ready-made handlers: applications build an Inference from these and never write the generation loop.
import { Cancel, In, InferenceError, Model, Out, handler, type Inference, type ModelAccessor } from "@actorlm/runtime";
import { fitMaxTokens, validateRequest, type FinishReason, type GenerateRequest, type RequestLimits, type TokenOutput } from "./generation/request.js";
import type { LlamaModel, ModelInfo, SequenceStart } from "./llama-model.js";
import { encodeOffThread } from "./tokenize/encoder-pool.js";
import { grammarOffThread } from "./grammar/grammar-pool.js";
import { sampleSeed } from "./sampling/rng.js";

/** Each accessor's model info, asked once (a model's info never changes, not even across a reset). */
const infos = new WeakMap<object, Promise<ModelInfo>>();

/** The model's info, from a cache per accessor (a failed call is not kept). */
function infoOf(model: ModelAccessor<LlamaModel>): Promise<ModelInfo> {
  let info = infos.get(model);
  if (info === undefined) {
    info = model.call("info");
    infos.set(model, info);
    info.catch(() => infos.delete(model));
  }
  return info;
}

function limitsOf(info: ModelInfo): RequestLimits {
  return { maxSequenceLength: info.maxSequenceLength, maxStopSequences: info.maxStopSequences, maxPromptBytes: info.maxPromptBytes };
}

/**
 * Submits `request` to the model's batch without tokenizing on the model actor: the request is validated on the
 * calling thread (a prompt too long to fit is refused before anyone tokenizes it), the prompt is tokenized on a CPU
 * pool thread, and `submit` gets the ids. `signal` (the job's) takes the tokenizing task and the queued `submit` off
 * their queues. Use it in handlers of your own; the caller frees the request (`release`) unless it finished.
 */
export async function startSequence(model: ModelAccessor<LlamaModel>, request: GenerateRequest, signal?: AbortSignal): Promise<SequenceStart> {
  return (await startSamples(model, request, signal))[0];
}

/**
 * {@link startSequence} for the `n` samples of a request (one when it has no `n`): the prompt is tokenized once and a
 * grammar converted to EBNF once, both on pool threads (the model worker only compiles the EBNF); sample i is
 * submitted with seed `sampleSeed(seed, i)` (random seeds when the request has none), and the later samples attach
 * the prompt's KV blocks the first one computes (prefix cache). If one submit fails, those already submitted are
 * released.
 */
export async function startSamples(model: ModelAccessor<LlamaModel>, request: GenerateRequest, signal?: AbortSignal): Promise<SequenceStart[]> {
  const info = await infoOf(model);
  const limits = limitsOf(info);
  const normalized = validateRequest(request, limits);
  const ids = typeof normalized.prompt === "string" ? (await encodeOffThread(info.model, [normalized.prompt], signal))[0] : normalized.prompt;
  fitMaxTokens(ids.length, normalized.maxTokens, limits); // refused here rather than after a trip through the model's queue
  let submitted: GenerateRequest = { ...request, n: undefined };
  if (normalized.grammar !== undefined) {
    submitted = { ...submitted, grammar: { type: "ebnf", grammar: await grammarOffThread(normalized.grammar, "grammar", signal) } };
  }
  const calls = signal === undefined ? model : model.withSignal(signal);
  const starts: SequenceStart[] = [];
  try {
    for (let i = 0; i < (normalized.n ?? 1); i++) {
      const seed = normalized.sampling.seed === undefined ? undefined : sampleSeed(normalized.sampling.seed, i);
      starts.push(await calls.call("submit", { ...submitted, seed }, Array.from(ids)));
    }
  } catch (error) {
    await Promise.all(starts.map((s) => model.call("release", s.id).catch(() => undefined)));
    throw error;
  }
  return starts;
}

/**
 * Streams a completion token by token. Each output is `{ token, tokenId, index, special }`; the last one also
 * carries `finishReason`. The prompt is tokenized off the model actor; the request joins the model's batch, and
 * each `next` hands over the outputs its steps produced since the last one. Its KV blocks are freed when it
 * finishes, fails or is cancelled; a cancelled request leaves the batch at the next step, and one cancelled while
 * it waits to join never runs.
 */
export const streamingHandler = handler(
  [In<GenerateRequest>(), Model<LlamaModel>(), Cancel(), Out<TokenOutput>()],
  async (request, model, cancel, out) => {
    const starts = await startSamples(model, request, cancel.signal);
    const calls = model.withSignal(cancel.signal);
    const finished = starts.map(() => false);
    const stream = async (id: number, choice: number) => {
      for (let index = 0; !finished[choice]; ) {
        cancel.throwIfCancelled();
        for (const step of await calls.call("next", id)) {
          finished[choice] = step.finishReason !== undefined;
          const output: TokenOutput = { token: step.text, tokenId: step.tokenId, index: index++, special: step.special };
          if (step.finishReason) output.finishReason = step.finishReason;
          if (step.logprob !== undefined) output.logprob = step.logprob;
          if (step.topLogprobs !== undefined) output.topLogprobs = step.topLogprobs;
          if (starts.length > 1) output.choice = choice;
          await out.emit(output);
        }
      }
    };
    try {
      await Promise.all(starts.map((s, choice) => stream(s.id, choice)));
    } finally {
      // A finished request is forgotten by the worker; otherwise free it here (without the job's signal: a
      // cancelled job must still release). If the worker itself is gone there is nothing left to free, and the
      // job already fails with that error.
      await Promise.all(starts.map((s, choice) => (finished[choice] ? undefined : model.call("release", s.id).catch(() => undefined))));
    }
  },
);

/** Teacher-forced perplexity of a text: tokens (with bos), mean negative log-likelihood, and exp of it. */
export interface PerplexityResult {
  nTokens: number;
  meanNll: number;
  ppl: number;
}

/**
 * Teacher-forced perplexity of `{ text }` (with bos), as the job's single output. The text is tokenized on a
 * CPU pool thread and scored one window (max sequence length) per model operation, so other requests keep
 * running between windows; each later window starts at the previous one's last token, which serves only
 * as context. A cancelled job's queued windows never run.
 */
export const perplexityHandler = handler(
  [In<{ text: string }>(), Model<LlamaModel>(), Cancel()],
  async (request, model, cancel): Promise<PerplexityResult> => {
    const text: unknown = request?.text; // a null or non-object request is a bad request, not a handler failure
    if (typeof text !== "string" || text.length === 0) {
      throw new InferenceError("VALIDATION", "text: must be a non-empty string", { field: "text" });
    }
    const { model: dir, maxSequenceLength } = await infoOf(model);
    const [encoded] = await encodeOffThread(dir, [text], cancel.signal);
    const ids = Array.from(encoded);
    if (ids.length < 2) throw new InferenceError("VALIDATION", "text: needs at least one token after bos to score", { field: "text" });
    const scorer = model.withSignal(cancel.signal);
    let nll = 0;
    let count = 0;
    for (let from = 0; from < ids.length - 1; from += maxSequenceLength - 1) {
      cancel.throwIfCancelled();
      const window = await scorer.call("score", ids.slice(from, from + maxSequenceLength));
      nll += window.nll;
      count += window.count;
    }
    return { nTokens: ids.length, meanNll: nll / count, ppl: Math.exp(nll / count) };
  },
);

/** A finished completion: its text, every generated token id, and why it ended. */
export interface Completion {
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  /** With `logprobs`: each generated token's log-probability. */
  logprobs?: number[];
}

/** Joins streamed outputs into a {@link Completion}. */
export function collectCompletion(outputs: readonly TokenOutput[]): Completion {
  const last = outputs.at(-1);
  const completion: Completion = {
    text: outputs.map((o) => o.token).join(""),
    tokenIds: outputs.map((o) => o.tokenId),
    finishReason: last?.finishReason ?? "length",
  };
  if (outputs.length > 0 && outputs.every((o) => o.logprob !== undefined)) completion.logprobs = outputs.map((o) => o.logprob!);
  return completion;
}

/** Joins the streamed outputs of a request with `n` samples into one {@link Completion} per sample, in `choice` order. */
export function collectCompletions(outputs: readonly TokenOutput[]): Completion[] {
  const byChoice: TokenOutput[][] = [];
  for (const o of outputs) (byChoice[o.choice ?? 0] ??= []).push(o);
  return Array.from(byChoice, (list) => collectCompletion(list ?? []));
}

/** Runs `request` to completion through an inference built from {@link streamingHandler}. */
export async function generate<S>(
  inference: Inference<GenerateRequest, TokenOutput, S>,
  request: GenerateRequest,
  signal?: AbortSignal,
): Promise<Completion> {
  return collectCompletion(await inference.infer(request).run(signal));
}
