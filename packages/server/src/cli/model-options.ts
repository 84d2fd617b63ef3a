// The engine options every command that loads a model takes, with the library config's names in kebab case.
import { EMBEDDED_MODEL_DIR, type LlmEngineArgs } from "@actorlm/llm";
import { DATA_TYPE_NAMES, isDevice, isKernelBackend, type DataTypeName, type Device, type KernelBackend } from "@actorlm/runtime";
import { InvalidArgumentError, type Command } from "commander";
import { integer } from "./options.js";

/** The engine flags as commander parses them. */
export interface ModelFlags {
  model: string;
  /** Fetch a Hugging Face id missing from the local cache first. */
  download?: boolean;
  dtype?: string;
  device?: string;
  backend?: string;
  threads?: number;
  maxSequenceLength?: number;
  kvCacheTokens?: number;
  maxBatchTokens?: number;
  maxConcurrentRequests?: number;
  maxQueuedRequests?: number;
  /** false with --no-prefix-caching. */
  prefixCaching?: boolean;
  /** false with --no-check-weights. */
  checkWeights?: boolean;
  verbose?: boolean;
}

/** The engine flags without --model (for `serve`, whose --model is repeatable). */
export type EngineFlags = Omit<ModelFlags, "model" | "download">;

/**
 * Adds --model, --download, --dtype, --device, --backend, --threads, --max-sequence-length, --kv-cache-tokens,
 * --max-batch-tokens, --max-concurrent-requests, --max-queued-requests, --no-prefix-caching, --no-check-weights, --verbose.
 */
export function addModelOptions(command: Command): Command {
  const model = "model directory (Hugging Face layout), a GGUF file, or a Hugging Face id org/name[@revision] (org/name:Q4_0 for a GGUF file) from the local cache";
  return addEngineOptions(addDownloadOption(command.option("--model <dir|id>", model, EMBEDDED_MODEL_DIR)));
}

/** Adds --download. */
export function addDownloadOption(command: Command): Command {
  return command.option("--download", "fetch a Hugging Face id missing from the local cache from the Hub (or HF_ENDPOINT) first");
}

/** Adds the engine flags, --model excepted. */
export function addEngineOptions(command: Command): Command {
  return command
    .option("--dtype <type>", `weight storage: ${DATA_TYPE_NAMES.join(", ")} (default float32; a GGUF file: the format nearest its own tensor types)`)
    .option("--device <device>", "cpu, gpu, cuda:N or auto (the GPU if there is one, else the cpu; default cpu)", oneOf("device", isDevice))
    .option("--backend <name>", "kernels: js, wasm or gpu (default: the device's, wasm on the cpu, gpu on a GPU; gpu on the cpu runs its gpu.js kernels in gpu.js's cpu mode)", oneOf("backend", isKernelBackend))
    .option("--threads <n>", "kernel threads, the model worker included (default: every core)", integer)
    .option("--max-sequence-length <n>", "longest prompt + completion (default: the model's)", integer)
    .option("--kv-cache-tokens <n>", "KV cache size in tokens (default: from the model's shape and the machine's memory)", integer)
    .option("--max-batch-tokens <n>", "most tokens per forward pass, every request together (longer prompts are prefilled in chunks)", integer)
    .option("--max-concurrent-requests <n>", "most requests in the batch at once (default 16)", integer)
    .option("--max-queued-requests <n>", "most requests waiting to join the batch; more are refused with OVERLOADED (default 64)", integer)
    .option("--no-prefix-caching", "compute every prompt in full: no sharing of cached KV blocks between requests with the same prefix")
    .option("--no-check-weights", "skip checking every weight for NaN and ±inf at load (for very large models)")
    .option("--verbose", "let native libraries' messages through (Dawn's, when --device gpu or auto looks for a GPU)");
}

/** The model's load arguments from parsed flags. */
export function modelArgs(flags: ModelFlags): LlmEngineArgs {
  return { model: flags.model, ...engineArgs(flags) };
}

/** The engine settings from parsed flags (unset flags left out, so the engine's defaults apply). */
export function engineArgs(flags: EngineFlags): Omit<LlmEngineArgs, "model"> {
  const args: Omit<LlmEngineArgs, "model"> = {};
  if (flags.dtype !== undefined) args.dtype = flags.dtype as DataTypeName;
  if (flags.device !== undefined) args.device = flags.device as Device;
  if (flags.backend !== undefined) args.backend = flags.backend as KernelBackend;
  if (flags.threads !== undefined) args.threads = flags.threads;
  if (flags.maxSequenceLength !== undefined) args.maxSequenceLength = flags.maxSequenceLength;
  if (flags.kvCacheTokens !== undefined) args.kvCacheTokens = flags.kvCacheTokens;
  if (flags.maxBatchTokens !== undefined) args.maxBatchTokens = flags.maxBatchTokens;
  if (flags.maxConcurrentRequests !== undefined) args.maxConcurrentRequests = flags.maxConcurrentRequests;
  if (flags.maxQueuedRequests !== undefined) args.maxQueuedRequests = flags.maxQueuedRequests;
  if (flags.prefixCaching === false) args.prefixCaching = false;
  if (flags.checkWeights === false) args.checkWeights = false;
  if (flags.verbose !== undefined) args.verbose = flags.verbose;
  return args;
}

/** A flag parser accepting only values `accept` recognizes. */
function oneOf(name: string, accept: (value: unknown) => boolean): (value: string) => string {
  return (value) => {
    if (!accept(value)) throw new InvalidArgumentError(`unknown ${name} "${value}"`);
    return value;
  };
}
