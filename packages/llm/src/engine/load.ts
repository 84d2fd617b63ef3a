// Loading: from the engine's load arguments to a model in the kernels' memory, its tokenizer, and the facts its info
// reports. `loadEngine` is the one entry point; reading the files is one step inside it (`readModelFiles`), so
// another file format is a branch there.
import { join } from "node:path";
import { jsRuntime } from "@actorlm/runtime";
import type { Kernels, WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import { resolveModelDir } from "../hub/cache.js";
import { DEFAULT_MAX_LOGIT_ROWS, type CausalLM } from "../models/causal-lm.js";
import { loadModel } from "../models/registry.js";
import { Tokenizer } from "../tokenizer.js";
import { parseEngineArgs, refuseUnsupported, type LlmEngineArgs, type LoadSettings } from "./args.js";
import type { ModelInfo } from "./info.js";
import { startKernels } from "./start-kernels.js";

/** Load progress as the host reports it. */
export type OnLoadProgress = (progress: { stage: string; done: number; total: number; unit: string }) => void;

/** A loaded engine's parts: the model (in its kernels' memory), its tokenizer, and its info. */
export interface LoadedEngine {
  readonly lm: CausalLM;
  readonly tokenizer: Tokenizer;
  readonly info: ModelInfo;
}

/**
 * Loads the model `args` names — a directory, or a Hugging Face id (`org/name[@revision]`) found in the local cache
 * (never downloaded here) — on the kernels its settings ask for. Bad arguments are VALIDATION; a setting the engine
 * or the model cannot honour is MODEL_LOAD naming it. The kernels are disposed of if anything after their start fails.
 */
export async function loadEngine(args: LlmEngineArgs | string, onProgress?: OnLoadProgress): Promise<LoadedEngine> {
  const settings = parseEngineArgs(args);
  const { format, plan } = refuseUnsupported(settings.config);
  const dir = resolveModelDir(settings.config.model);
  const started = await startKernels(plan, settings.config.threads, settings.verbose);
  const { kernels } = started;
  try {
    // a GGUF file given no dtype keeps the format nearest to its own tensor types
    const asked = typeof args === "string" || args.dtype === undefined ? undefined : format;
    const { lm, tokenizer, architecture, stored, gguf } = await readModelFiles(dir, kernels, asked, settings, onProgress);
    checkVocabulary(tokenizer, lm.config.vocabSize, dir);
    const maxSequenceLength = checkLimits(lm, settings.config.maxSequenceLength, settings.maxConcurrentRequests);
    const info: ModelInfo = {
      model: dir,
      source: settings.config.model,
      architecture,
      device: started.device,
      adapter: started.adapter,
      fallback: started.fallback,
      backend: kernels.name,
      threads: kernels.threads,
      simd: kernels.simd,
      dtype: stored,
      weights: lm.storage ?? stored,
      ...(gguf === undefined ? {} : { gguf }),
      formats: { ...lm.formats },
      kvCacheTokens: lm.kv.capacityTokens,
      prefixCaching: settings.prefixCaching,
      maxBatchTokens: lm.maxBatchTokens,
      maxConcurrentRequests: settings.maxConcurrentRequests,
      maxQueuedRequests: settings.maxQueuedRequests,
      memoryBytes: kernels.memoryBytes(),
      memoryHighWaterBytes: kernels.memoryHighWater(),
      runtime: jsRuntime(),
      weightBytesPerToken: lm.weightBytesPerToken,
      productValuesPerToken: lm.productValuesPerToken,
      vocabSize: lm.config.vocabSize,
      maxSequenceLength,
      bosId: tokenizer.bosId,
      eosIds: [...tokenizer.eosIds],
      maxStopSequences: settings.maxStopSequences,
      maxPromptBytes: tokenizer.maxTokenBytes * maxSequenceLength,
    };
    return { lm, tokenizer, info };
  } catch (error) {
    await kernels.dispose();
    throw error;
  }
}

/**
 * A Hugging Face directory's model (config.json, safetensors) or a GGUF file read into `kernels` as `format` (a GGUF
 * file given none: its own types' nearest), and its tokenizer (tokenizer.json and the special ids of
 * tokenizer_config, generation_config and config.json; a GGUF file's metadata).
 */
async function readModelFiles(
  dir: string,
  kernels: Kernels,
  format: WeightFormat | undefined,
  settings: LoadSettings,
  onProgress: OnLoadProgress | undefined,
): Promise<{ lm: CausalLM; tokenizer: Tokenizer; architecture: string; stored: WeightFormat; gguf: ModelInfo["gguf"] }> {
  const { kvCacheTokens, maxBatchTokens, checkWeights } = settings;
  // every running request may want its logits in the same step
  const maxLogitRows = Math.max(DEFAULT_MAX_LOGIT_ROWS, settings.maxConcurrentRequests);
  const loaded = await loadModel(dir, { kernels, format, onProgress, kvCacheTokens, maxBatchTokens, maxLogitRows, checkWeights });
  const tokenizer = await Tokenizer.fromDir(dir, { modelConfig: loaded.rawConfig });
  return { lm: loaded.model, tokenizer, architecture: loaded.architecture.name, stored: loaded.format, gguf: loaded.gguf };
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

/**
 * The max sequence length in force (asked, or the model's own and what the KV pool holds), after refusing
 * (MODEL_LOAD naming the setting) limits the model cannot honour: a sequence longer than the model's positions or
 * than the KV pool, more requests in the batch than rows in a forward pass.
 */
function checkLimits(lm: CausalLM, asked: number | undefined, maxConcurrentRequests: number): number {
  const modelMax = lm.config.maxPositionEmbeddings;
  const capacity = lm.kv.capacityTokens;
  const refuse = (field: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${field} ${why}`, { field });
  };
  if (asked !== undefined && asked > modelMax) refuse("maxSequenceLength", `${asked} exceeds the model's max_position_embeddings ${modelMax}`);
  if (asked !== undefined && asked > capacity) refuse("kvCacheTokens", `${capacity} cannot hold one sequence of maxSequenceLength ${asked}`);
  if (maxConcurrentRequests > lm.maxBatchTokens) refuse("maxConcurrentRequests", `${maxConcurrentRequests} exceeds maxBatchTokens ${lm.maxBatchTokens} (every running request needs a row per step)`);
  return asked ?? Math.min(modelMax, capacity); // unset: the model's own limit, if the KV pool holds it
}
