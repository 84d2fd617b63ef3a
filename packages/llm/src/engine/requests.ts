// Request handling in the engine: a tokenized request goes into the scheduler's queue (after the only checks the
// worker must make: its ids against the vocabulary, its length against the model), its outputs are handed out as the
// steps make them, and it is released when its caller is done or gone.
import { InferenceError, type LoadContext } from "@actorlm/runtime";
import { LlmError } from "../errors.js";
import { isObject } from "../json-file.js";
import { fitMaxTokens, type TokenizedRequest } from "../generation/request.js";
import type { Scheduler } from "../generation/scheduler.js";
import { Sequence, type StepOutput } from "../generation/sequence.js";
import type { Tokenizer } from "../tokenizer.js";
import type { GrammarEngine } from "../grammar/engine.js";

/** A submitted request: its id and the sampler seed in use. */
export interface SequenceStart {
  id: number;
  seed: number;
}

/** The engine's live requests: what the scheduler runs, and who submitted each. */
export class Requests {
  /** Who submitted each live request (LoadContext.caller): a client that goes away gets its requests freed. */
  private readonly owners = new Map<number, number>();
  private nextId = 1;

  /** Requests for `scheduler`, limited by `maxSequenceLength`; `ctx` (absent in-process) says who calls and detaches waits. */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly tokenizer: Tokenizer,
    private readonly maxSequenceLength: number,
    private readonly ctx: LoadContext | undefined,
    private readonly grammars: GrammarEngine,
  ) {
    // A client thread that closes or exits mid-request frees its requests' KV blocks (the model itself stays).
    ctx?.onDisconnect((caller) => {
      for (const [id, owner] of this.owners) if (owner === caller) this.release(id);
    });
  }

  /**
   * Queues a validated, tokenized request for the batch (see `TokenizedRequest`; `startSequence` makes one). Checked
   * here only for what the model decides: its length with maxTokens against the max sequence length (VALIDATION
   * naming `prompt` or `maxTokens`, before the ids are read), then its ids against the vocabulary (naming `prompt`).
   * OVERLOADED (at once) when the batch and the queue are full.
   */
  submit(request: TokenizedRequest): SequenceStart {
    if (!isObject(request) || !isObject(request.sampling) || !Array.isArray(request.stop)) {
      throw new LlmError("VALIDATION", "request: must be a tokenized request (startSequence, or validateRequest then tokenizeRequest, makes one)", { field: ["request"] });
    }
    const ids: unknown = request.promptIds;
    if (!Array.isArray(ids) || ids.length === 0) throw new LlmError("VALIDATION", "prompt: must be a non-empty array of token ids", { field: ["prompt"] });
    const maxTokens = fitMaxTokens(ids.length, request.maxTokens, { maxSequenceLength: this.maxSequenceLength });
    checkIds(ids, "prompt", 1, this.tokenizer.vocabSize);
    if (request.n !== undefined && request.n !== 1) throw new LlmError("VALIDATION", "n: submit runs one sample (startSamples and the handlers run n)", { field: ["n"] });
    const grammar = request.grammar === undefined ? undefined : this.grammars.start(request.grammar);
    const sequence = new Sequence(this.tokenizer, request, ids as number[], maxTokens, this.scheduler.blocks.sequence(), { grammar });
    const id = this.nextId;
    try {
      this.scheduler.submit(id, sequence); // OVERLOADED when full: the id stays unused
    } catch (error) {
      sequence.dispose();
      throw error;
    }
    this.nextId++;
    this.owners.set(id, this.ctx?.caller ?? 0);
    return { id, seed: sequence.seed };
  }

  /**
   * The outputs of request `id` produced since the last call, waiting for the next step's when there are none yet
   * (in the worker the wait is detached: it does not hold the queue). The last output carries finishReason, and the
   * request is then forgotten. Rejects with the error that ended the request, VALIDATION for an unknown id.
   */
  next(id: number): StepOutput[] | Promise<StepOutput[]> {
    let ready: StepOutput[] | undefined;
    try {
      ready = this.scheduler.take(id);
    } catch (error) {
      this.owners.delete(id);
      throw error;
    }
    if (ready !== undefined) return this.forgetIfDone(id, ready);
    const wait = (signal?: AbortSignal) =>
      this.scheduler.wait(id, signal).then(
        (outputs) => this.forgetIfDone(id, outputs),
        (error: unknown) => {
          this.owners.delete(id);
          throw error;
        },
      );
    return this.ctx === undefined ? wait() : this.ctx.detach(wait);
  }

  /**
   * The next output of request `id` alone, running steps itself until there is one (OVERLOADED when no request can
   * advance: the KV pool is held by requests whose outputs nobody reads).
   */
  step(id: number): StepOutput {
    try {
      for (;;) {
        const output = this.scheduler.takeOne(id);
        if (output !== undefined) {
          if (output.finishReason !== undefined) this.owners.delete(id);
          return output;
        }
        if (!this.scheduler.step()) throw new InferenceError("OVERLOADED", `request ${id} cannot advance: every request that could is waiting for its outputs to be read`);
      }
    } catch (error) {
      if (!this.scheduler.has(id)) this.owners.delete(id);
      throw error;
    }
  }

  /** Cancels request `id`: it leaves the queue or the batch and its KV blocks go back now; true when it was live. */
  release(id: number): boolean {
    this.owners.delete(id);
    return this.scheduler.cancel(id);
  }

  /** `outputs`, after forgetting the owner of request `id` when they end it. */
  private forgetIfDone(id: number, outputs: StepOutput[]): StepOutput[] {
    if (outputs.at(-1)?.finishReason !== undefined) this.owners.delete(id);
    return outputs;
  }
}

/**
 * Refuses (VALIDATION naming `field`) a list of fewer than `min` ids, or one with an id outside 0 .. vocabSize - 1:
 * the check every list of ids from outside the engine passes before it reaches the model.
 */
export function checkIds(ids: unknown, field: string, min: number, vocabSize: number): void {
  if (!Array.isArray(ids) || ids.length < min) throw new LlmError("VALIDATION", `${field}: must be an array of at least ${min} token ids`, { field: [field] });
  const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0 || id >= vocabSize);
  if (bad >= 0) throw new LlmError("VALIDATION", `${field}: id ${String(ids[bad])} at ${bad} is outside the vocabulary 0 .. ${vocabSize - 1}`, { field: [field] });
}
