// The model actor: what the runtime hosts in its worker. It owns the weights, the tokenizer and one
// Sequence (KV slot) per request, and exposes generation as named operations the handlers call.
import { join } from "node:path";
import { BackendConfig, InferenceError, type BackendConfigInit, type LoadContext } from "@actorlm/runtime";
import { jsBackend } from "@actorlm/tensor";
import { LlmError } from "./errors.js";
import { Sequence, type StepOutput } from "./generation/sequence.js";
import { fitMaxTokens, validateRequest, type GenerateRequest } from "./generation/request.js";
import type { CausalLM } from "./models/causal-lm.js";
import { loadModel } from "./models/registry.js";
import { Tokenizer } from "./tokenizer.js";

/** Positions `score` runs through the model per forward pass: bounds its [rows, vocab] logits scratch. */
const SCORE_CHUNK = 64;

/** How to load a model: the backend config, plus the worker's own limits. */
export interface LlamaModelArgs extends BackendConfigInit {
  /** Most sequences (KV slots) alive at once; a request beyond it is refused with OVERLOADED. Default 64. */
  maxSequences?: number;
  /** Most stop strings one request may give. Default 4. */
  maxStopSequences?: number;
}

/** Static facts about the loaded model. */
export interface ModelInfo {
  model: string;
  architecture: string;
  vocabSize: number;
  maxSequenceLength: number;
  bosId: number | null;
  eosIds: number[];
  maxStopSequences: number;
}

/** A started sequence: its slot id, the prompt's token ids and the sampler seed in use. */
export interface SequenceStart {
  id: number;
  promptIds: number[];
  seed: number;
}

/** A scored window: summed negative log-likelihood of its predicted tokens and how many there were. */
export interface WindowScore {
  nll: number;
  count: number;
}

/** A causal language model hosted in the runtime's worker, generation exposed as operations. */
export class LlamaModel {
  static readonly moduleUrl: string = import.meta.url;

  private readonly sequences = new Map<number, Sequence>();
  private nextId = 1;

  private constructor(
    private readonly lm: CausalLM,
    private readonly tokenizer: Tokenizer,
    private readonly info_: ModelInfo,
    private readonly maxSequences: number,
  ) {}

  /** Load config, weights and tokenizer from `args.model` (a directory), reporting progress to the host. */
  static async load(args: LlamaModelArgs | string, ctx?: LoadContext): Promise<LlamaModel> {
    const init = typeof args === "string" ? { model: args } : args;
    const config = new BackendConfig(init).validate();
    if (config.device !== "cpu") {
      throw new InferenceError("VALIDATION", `device ${config.device}: only "cpu" is implemented so far`);
    }
    if (config.dtype !== "float32") {
      throw new InferenceError("VALIDATION", `dtype ${config.dtype}: only float32 compute is implemented so far (f16/bf16 weights are upcast to it)`);
    }
    const onProgress = ctx ? (p: { stage: string; done: number; total: number; unit: string }) => ctx.progress(p) : undefined;
    // device "cpu" (the only one so far) runs on the plain-JS reference backend
    const { architecture: arch, rawConfig, model: lm } = await loadModel(config.model, { backend: jsBackend, onProgress });
    const tokenizer = await Tokenizer.fromDir(config.model, { modelConfig: rawConfig });
    checkVocabulary(tokenizer, lm.config.vocabSize, config.model);

    const modelMax = lm.config.maxPositionEmbeddings;
    const maxSequenceLength = init.maxSequenceLength ?? modelMax;
    if (maxSequenceLength > modelMax) {
      throw new InferenceError("VALIDATION", `maxSequenceLength ${maxSequenceLength} exceeds the model's max_position_embeddings ${modelMax}`);
    }
    const info: ModelInfo = {
      model: config.model,
      architecture: arch.name,
      vocabSize: lm.config.vocabSize,
      maxSequenceLength,
      bosId: tokenizer.bosId,
      eosIds: [...tokenizer.eosIds],
      maxStopSequences: positive(init.maxStopSequences ?? 4, "maxStopSequences"),
    };
    return new LlamaModel(lm, tokenizer, info, positive(init.maxSequences ?? 64, "maxSequences"));
  }

  /** Static facts about the model (vocabulary, limits, special ids). */
  info(): ModelInfo {
    return this.info_;
  }

  /** Number of live sequences (KV slots in use). */
  activeSequences(): number {
    return this.sequences.size;
  }

  /** Token ids of `text` (bos prepended unless `addSpecialTokens` is false). */
  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { addSpecialTokens });
  }

  /** Text of `ids` (special tokens skipped). */
  decode(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** Validate a request, tokenize its prompt, give it a KV slot and prefill it. VALIDATION / OVERLOADED on refusal. */
  start(request: GenerateRequest): SequenceStart {
    const { maxSequenceLength, maxStopSequences } = this.info_;
    const normalized = validateRequest(request, { maxSequenceLength, maxStopSequences });
    const promptIds = this.tokenizer.encode(normalized.prompt);
    const maxTokens = fitMaxTokens(promptIds.length, normalized.maxTokens, { maxSequenceLength, maxStopSequences });
    if (this.sequences.size >= this.maxSequences) {
      throw new InferenceError("OVERLOADED", `all ${this.maxSequences} sequence slots are in use`);
    }
    const sequence = new Sequence(this.lm, this.tokenizer, normalized, promptIds, maxTokens);
    const id = this.nextId++;
    this.sequences.set(id, sequence);
    return { id, promptIds, seed: sequence.seed };
  }

  /** One decode step of sequence `id`; the slot is freed when the step finishes the sequence. */
  step(id: number): StepOutput {
    const sequence = this.sequences.get(id);
    if (!sequence) throw new InferenceError("VALIDATION", `no live sequence ${id}`);
    const out = sequence.step();
    if (out.finishReason) this.sequences.delete(id);
    return out;
  }

  /** Free sequence `id`'s KV slot (cancelled or failed requests); true when it was still live. */
  release(id: number): boolean {
    return this.sequences.delete(id);
  }

  /**
   * Teacher-forced log-likelihood of `ids` (one window of at most the max sequence length, the first id only
   * context): the summed negative log-probability of ids[1..] and how many were scored.
   */
  score(ids: number[]): WindowScore {
    const { maxSequenceLength, vocabSize } = this.info_;
    if (!Array.isArray(ids) || ids.length < 2 || ids.length > maxSequenceLength) {
      throw new InferenceError("VALIDATION", `ids: must be an array of 2 .. ${maxSequenceLength} token ids`);
    }
    const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0 || id >= vocabSize);
    if (bad >= 0) throw new LlmError("VALIDATION", `ids: id ${ids[bad]} at ${bad} is outside the vocabulary 0 .. ${vocabSize - 1}`, { field: "ids" });
    // ids[0 .. n-2] go through the cache a chunk at a time; row r of a chunk's logits predicts the id after it
    const inputs = ids.length - 1;
    const cache = this.lm.newCache(inputs);
    let nll = 0;
    for (let from = 0; from < inputs; from += SCORE_CHUNK) {
      const chunk = ids.slice(from, Math.min(from + SCORE_CHUNK, inputs));
      const logits = this.lm.forward(chunk, cache, { logits: "all" });
      for (let r = 0; r < chunk.length; r++) nll -= logProb(logits.subarray(r * vocabSize, (r + 1) * vocabSize), ids[from + r + 1]);
    }
    return { nll, count: inputs };
  }
}

/**
 * Refuse (MODEL_LOAD, naming both numbers) a tokenizer with ids the model has no embedding row for: a larger
 * vocabulary, or a bos / eos id (from tokenizer_config, generation_config or config.json) ≥ vocab_size.
 */
function checkVocabulary(tokenizer: Tokenizer, vocabSize: number, dir: string): void {
  const refuse = (file: string, what: string): never => {
    throw new LlmError("MODEL_LOAD", `${file}: ${what} the model's vocab_size ${vocabSize}`, { file });
  };
  if (tokenizer.vocabSize > vocabSize) refuse(join(dir, "tokenizer.json"), `the tokenizer's vocabulary of ${tokenizer.vocabSize} ids exceeds`);
  if (tokenizer.bosId !== null && tokenizer.bosId >= vocabSize) refuse(dir, `bos token id ${tokenizer.bosId} is not below`);
  for (const id of tokenizer.eosIds) if (id >= vocabSize) refuse(dir, `eos token id ${id} is not below`);
}

/** log softmax(row)[id], computed stably in float64. */
function logProb(row: Float32Array, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[id] - max - Math.log(sum);
}

function positive(n: number, field: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new InferenceError("VALIDATION", `${field}: must be an integer ≥ 1, got ${n}`);
  return n;
}
