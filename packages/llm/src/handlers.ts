// The ready-made handlers: applications build an Inference from these and never write the generation loop.
import { Cancel, In, InferenceError, Model, Out, handler, type CancelToken, type Inference, type ModelAccessor, type OutStream } from "@actorlm/runtime";
import type { LlmEngine } from "./engine/engine.js";
import { requestLimits, type ModelInfo } from "./engine/info.js";
import type { SequenceStart } from "./engine/requests.js";
import { validateRequest, type FinishReason, type GenerateRequest, type TokenOutput, type TokenizedRequest } from "./generation/request.js";
import { encodeOffThread, tokenizeRequest } from "./tokenize/encoder-pool.js";
import { grammarOffThread } from "./grammar/grammar-pool.js";
import { sampleSeed } from "./sampling/rng.js";

/** Each accessor's model info, asked once (a model's info never changes, not even across a reset). */
const infos = new WeakMap<object, Promise<ModelInfo>>();

/** The model's info, from a cache per accessor (a failed call is not kept). */
function infoOf(model: ModelAccessor<LlmEngine>): Promise<ModelInfo> {
  let info = infos.get(model);
  if (info === undefined) {
    info = model.call("info");
    infos.set(model, info);
    info.catch(() => infos.delete(model));
  }
  return info;
}

/**
 * Submits `request` to the model's batch without tokenizing on the model actor: the request is validated once, on
 * the calling thread (a prompt too long to fit is refused before anyone tokenizes it), its prompt is tokenized once,
 * on a CPU pool thread, and `submit` gets the ids (the engine checks them against its vocabulary and the length
 * against its max sequence length). `signal` (the job's) takes the tokenizing task and the queued `submit` off their
 * queues. Use it in handlers of your own; the caller frees the request (`release`) unless it finished.
 */
export async function startSequence(model: ModelAccessor<LlmEngine>, request: GenerateRequest, signal?: AbortSignal): Promise<SequenceStart> {
  const starts = await startSamples(model, { ...request, n: undefined }, signal);
  return starts[0];
}

/**
 * {@link startSequence} for the `n` samples of a request (one when it has no `n`): validated and tokenized once,
 * then submitted as {@link submitSamples} does.
 */
export async function startSamples(model: ModelAccessor<LlmEngine>, request: GenerateRequest, signal?: AbortSignal): Promise<SequenceStart[]> {
  const info = await infoOf(model);
  const tokenized = await tokenizeRequest(validateRequest(request, requestLimits(info)), info.model, signal);
  return submitSamples(model, tokenized, signal);
}

/**
 * Submits the `n` samples of a tokenized request (one when it has no `n`): a grammar is converted to EBNF once, on
 * a pool thread (the model's grammar thread only compiles it); sample i is submitted with seed `sampleSeed(seed, i)`
 * (random seeds when the request has none), and the later samples attach the prompt's KV blocks the first one
 * computes (prefix cache). If one submit fails, those already submitted are released.
 */
export async function submitSamples(model: ModelAccessor<LlmEngine>, request: TokenizedRequest, signal?: AbortSignal): Promise<SequenceStart[]> {
  let submitted: TokenizedRequest = { ...request, n: undefined };
  if (request.grammar !== undefined) submitted = { ...submitted, grammar: { type: "ebnf", grammar: await grammarOffThread(request.grammar, "grammar", signal) } };
  const calls = signal === undefined ? model : model.withSignal(signal);
  const starts: SequenceStart[] = [];
  try {
    for (let i = 0; i < (request.n ?? 1); i++) {
      const seed = request.sampling.seed === undefined ? undefined : sampleSeed(request.sampling.seed, i);
      starts.push(await calls.call("submit", { ...submitted, sampling: { ...submitted.sampling, seed } }));
    }
  } catch (error) {
    await Promise.all(starts.map((s) => model.call("release", s.id).catch(() => undefined)));
    throw error;
  }
  return starts;
}

/**
 * Emits the outputs of the requests `ids` (the samples of one request) to `out` as `next` hands them over, until
 * the last one of each; with several, each output names its `choice`. Releases those that did not finish (the job
 * failed or was cancelled).
 */
async function streamOutputs(ids: readonly number[], model: ModelAccessor<LlmEngine>, cancel: CancelToken, out: OutStream<TokenOutput>): Promise<void> {
  const calls = model.withSignal(cancel.signal);
  const finished = ids.map(() => false);
  const stream = async (id: number, choice: number) => {
    for (let index = 0; !finished[choice]; ) {
      cancel.throwIfCancelled();
      for (const step of await calls.call("next", id)) {
        finished[choice] = step.finishReason !== undefined;
        const output: TokenOutput = { token: step.text, tokenId: step.tokenId, index: index++, special: step.special };
        if (step.finishReason) output.finishReason = step.finishReason;
        if (step.logprob !== undefined) output.logprob = step.logprob;
        if (step.topLogprobs !== undefined) output.topLogprobs = step.topLogprobs;
        if (ids.length > 1) output.choice = choice;
        await out.emit(output);
      }
    }
  };
  try {
    await Promise.all(ids.map((id, choice) => stream(id, choice)));
  } finally {
    // A finished request is forgotten by the worker; otherwise free it here (without the job's signal: a
    // cancelled job must still release). If the worker itself is gone there is nothing left to free, and the
    // job already fails with that error.
    await Promise.all(ids.map((id, choice) => (finished[choice] ? undefined : model.call("release", id).catch(() => undefined))));
  }
}

/**
 * Streams a completion token by token. Each output is `{ token, tokenId, index, special }`; the last one also
 * carries `finishReason`. The request is validated and its prompt tokenized off the model actor (`startSequence`);
 * it joins the model's batch, and each `next` hands over the outputs its steps produced since the last one. Its KV
 * blocks are freed when it finishes, fails or is cancelled; a cancelled request leaves the batch at the next step,
 * and one cancelled while it waits to join never runs.
 */
export const streamingHandler = handler(
  [In<GenerateRequest>(), Model<LlmEngine>(), Cancel(), Out<TokenOutput>()],
  async (request, model, cancel, out) => {
    const starts = await startSamples(model, request, cancel.signal);
    await streamOutputs(starts.map((s) => s.id), model, cancel, out);
  },
);

/**
 * {@link streamingHandler} for a request validated and tokenized already (a server's route parses its body into a
 * normalized request, tokenizes it with `tokenizeRequest` and counts its ids): nothing is checked or tokenized
 * again; the engine checks the ids and the length when it takes the request.
 */
export const tokenizedStreamingHandler = handler(
  [In<TokenizedRequest>(), Model<LlmEngine>(), Cancel(), Out<TokenOutput>()],
  async (request, model, cancel, out) => {
    const starts = await submitSamples(model, request, cancel.signal);
    await streamOutputs(starts.map((s) => s.id), model, cancel, out);
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
  [In<{ text: string }>(), Model<LlmEngine>(), Cancel()],
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
