// One generation as the HTTP routes run it: tokenize the route's normalized request once, off the model actor (its
// ids are the usage's prompt tokens and travel with the request to the engine), start the streaming job (the engine
// checks the ids and the length, then admits the request to its batch, queues it, or refuses it with OVERLOADED) and
// wait for its first output — so a request the model refuses still gets a plain error response with its status —
// then hand out the outputs, timing them for the metrics. Whatever way the consumer leaves, the job is cancelled,
// which frees its KV blocks.
import { performance } from "node:perf_hooks";
import { tokenizeRequest, type FinishReason, type NormalizedRequest, type TokenOutput } from "@actorlm/llm";
import { InferenceError, type Job } from "@actorlm/runtime";
import type { ServerMetrics } from "./metrics.js";
import type { ServedModel } from "./models.js";

/** What a generation needs from its route. */
export interface GenerationContext {
  model: ServedModel;
  /** The route's body, parsed and checked (once) into the request the engine runs. */
  request: NormalizedRequest;
  /** Aborts when the client disconnects or the server shuts down: the job is cancelled at once. */
  signal: AbortSignal;
  /** `performance.now()` when the request arrived (time to first token counts from it). */
  receivedAt: number;
  metrics: ServerMetrics;
}

/** One sample of a generation (a request with `n` has n): its text, outputs and why it ended. */
export interface GenerationChoice {
  text: string;
  outputs: TokenOutput[];
  finishReason: FinishReason | undefined;
  eos: boolean;
}

/** A generation whose first output has arrived. */
export class Generation {
  /** Tokens of the prompt (bos included): the ids the request was tokenized into. */
  readonly promptTokens: number;
  /** Outputs handed out so far. */
  completionTokens = 0;
  /** Why it ended (set with the last output). */
  finishReason: FinishReason | undefined;
  /** True when it ended on an eos token (rather than a stop string). */
  eos = false;
  /** Every output's text so far, joined (of the first sample, when there are several). */
  text = "";
  /** Each sample's text, outputs and end, by `choice`. */
  readonly choices: GenerationChoice[] = [];
  readonly #job: Job<TokenOutput>;
  readonly #outputs: AsyncIterator<TokenOutput>;
  readonly #first: TokenOutput;
  readonly #ctx: GenerationContext;
  #consumed = false;

  private constructor(ctx: GenerationContext, promptTokens: number, job: Job<TokenOutput>, outputs: AsyncIterator<TokenOutput>, first: TokenOutput) {
    this.#ctx = ctx;
    this.promptTokens = promptTokens;
    this.#job = job;
    this.#outputs = outputs;
    this.#first = first;
  }

  /**
   * Starts a generation and resolves once its first output arrived. Rejects with the InferenceError that stopped
   * it before then: NOT_READY, VALIDATION (from the engine, its field path naming `prompt` or `maxTokens`),
   * OVERLOADED (the queue is full), CANCELLED (the signal aborted), WORKER_CRASHED.
   */
  static async start(ctx: GenerationContext): Promise<Generation> {
    const { model, request, signal } = ctx;
    model.requireReady();
    const tokenized = await tokenizeRequest(request, model.info.model, signal); // the resolved directory (an id's snapshot)
    const promptTokens = tokenized.promptIds.length;
    let job: Job<TokenOutput> | undefined;
    try {
      job = model.spawn(tokenized, signal);
      const outputs = job.stream[Symbol.asyncIterator]();
      const first = await outputs.next();
      if (first.done === true) {
        await job.join(); // rejects with why it ended without output (CANCELLED, …)
        throw new InferenceError("HANDLER_FAILED", "the generation ended without any output");
      }
      ctx.metrics.timeToFirstToken.observe({ model: model.name }, (performance.now() - ctx.receivedAt) / 1000);
      return new Generation(ctx, promptTokens, job, outputs, first.value);
    } catch (error) {
      job?.cancel();
      await job?.join().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Every output, the first included, once. Rejects with the job's error if it fails midway (CANCELLED when the
   * signal aborted); leaving early cancels the job.
   */
  async *outputs(): AsyncGenerator<TokenOutput, void, undefined> {
    if (this.#consumed) throw new Error("a generation's outputs can be read once");
    this.#consumed = true;
    const { metrics, model } = this.#ctx;
    const labels = { model: model.name };
    let last = performance.now();
    let finished = false;
    try {
      let next: IteratorResult<TokenOutput> = { done: false, value: this.#first };
      while (next.done !== true) {
        const out = next.value;
        this.#account(out);
        metrics.tokens.inc(labels);
        yield out;
        next = await this.#outputs.next();
        if (next.done !== true) {
          const now = performance.now();
          metrics.interToken.observe(labels, (now - last) / 1000);
          last = now;
        }
      }
      await this.#job.join();
      finished = true;
    } finally {
      if (!finished) {
        this.#job.cancel("the response ended early");
        await this.#job.join().catch(() => undefined);
      }
    }
  }

  /** Reads every output; resolves when the generation completed. */
  async collect(): Promise<this> {
    for await (const _ of this.outputs());
    return this;
  }

  #account(out: TokenOutput): void {
    this.completionTokens++;
    const index = out.choice ?? 0;
    const choice = (this.choices[index] ??= { text: "", outputs: [], finishReason: undefined, eos: false });
    choice.text += out.token;
    choice.outputs.push(out);
    if (out.finishReason !== undefined) {
      choice.finishReason = out.finishReason;
      choice.eos = out.special;
    }
    if (index !== 0) return;
    this.text += out.token;
    if (out.finishReason !== undefined) {
      this.finishReason = out.finishReason;
      this.eos = out.special;
    }
  }
}
