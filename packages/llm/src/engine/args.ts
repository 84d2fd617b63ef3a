// The engine's load arguments: checked on the caller's thread before any worker starts (VALIDATION naming the
// field), then settings the engine cannot honour yet are refused by name at load (MODEL_LOAD).
import { BackendConfig, integerSetting, type BackendConfigInit, type KernelBackend } from "@actorlm/runtime";
import { WEIGHT_FORMATS, isWeightFormat, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import { refuseUnknownFields } from "../fields.js";
import { isObject } from "../json-file.js";

/** How to load a model: the backend config, plus the worker's own limits. */
export interface LlmEngineArgs extends BackendConfigInit {
  /**
   * Deprecated: use maxConcurrentRequests and maxQueuedRequests. When given alone, it is maxConcurrentRequests
   * with no queue (the old meaning: at most this many requests at once, the next one refused with OVERLOADED).
   */
  maxSequences?: number;
  /** Most requests in the batch at once (each holds KV blocks and gets a row every step). Default 16. */
  maxConcurrentRequests?: number;
  /** Most requests waiting to join the batch; one more is refused at once with OVERLOADED. Default 64. */
  maxQueuedRequests?: number;
  /** Most stop strings one request may give. Default 4. */
  maxStopSequences?: number;
  /** KV cache pool size in tokens. Default: room for 4 full-length sequences, at most 256 MiB. */
  kvCacheTokens?: number;
  /** Most tokens one forward pass takes (longer prompts are prefilled in chunks). Default 512. */
  maxBatchTokens?: number;
  /**
   * Share full KV blocks between requests whose prompts start with the same tokens, so a cached prefix (a system
   * prompt, a conversation's history) is not prefilled again; outputs are the same either way. Default true.
   */
  prefixCaching?: boolean;
  /**
   * Check every weight for NaN and ±inf as it is read, refusing the model (MODEL_LOAD naming the tensor) when one
   * holds any. Default true; false skips the pass over the values (about 1 ms per million values) for very large models.
   */
  checkWeights?: boolean;
  /**
   * Let native libraries' messages through to stderr (Dawn's, when device "gpu" or "auto" looks for a GPU). Default
   * false: the GPU is looked for in a child process first and what Dawn prints there is dropped.
   */
  verbose?: boolean;
}

/** Load arguments after checking, defaults filled in. */
export interface LoadSettings {
  readonly config: BackendConfig;
  readonly maxConcurrentRequests: number;
  readonly maxQueuedRequests: number;
  readonly maxStopSequences: number;
  readonly kvCacheTokens: number | undefined;
  readonly maxBatchTokens: number | undefined;
  readonly prefixCaching: boolean;
  readonly checkWeights: boolean;
  readonly verbose: boolean;
}

/** @deprecated The old name of {@link LlmEngineArgs}; removed in the next release. */
export type LlamaModelArgs = LlmEngineArgs;

const FIELDS: readonly (keyof LlmEngineArgs)[] = [
  "model", "device", "dtype", "maxSequenceLength", "flashAttention", "threads", "backend", "maxSequences", "maxStopSequences",
  "kvCacheTokens", "maxBatchTokens", "maxConcurrentRequests", "maxQueuedRequests", "prefixCaching", "checkWeights", "verbose",
];

/** Default of maxConcurrentRequests. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 16;
/** Default of maxQueuedRequests. */
export const DEFAULT_MAX_QUEUED_REQUESTS = 64;

/**
 * Checks the engine's load arguments (a model directory, or {@link LlmEngineArgs}); throws VALIDATION naming the
 * bad field (an unknown one with a hint; `args` itself when it is neither a string nor an object).
 */
export function parseEngineArgs(args: unknown): LoadSettings {
  const plain = typeof args === "string" ? { model: args } : args;
  if (!isObject(plain)) {
    const got = plain === null ? "null" : plain === undefined ? "nothing" : typeof plain;
    throw new LlmError("VALIDATION", `args: the engine needs a model directory or { model: directory, ... }, got ${got}`, { field: "args" });
  }
  refuseUnknownFields(plain, FIELDS);
  for (const field of ["checkWeights", "verbose", "prefixCaching"] as const) {
    if (plain[field] !== undefined && typeof plain[field] !== "boolean") throw new LlmError("VALIDATION", `${field}: must be a boolean`, { field });
  }
  const legacy = plain.maxSequences === undefined ? undefined : integerSetting("maxSequences", plain.maxSequences, 1);
  return {
    config: new BackendConfig(plain as unknown as BackendConfigInit).validate(),
    maxConcurrentRequests: integerSetting("maxConcurrentRequests", plain.maxConcurrentRequests ?? legacy ?? DEFAULT_MAX_CONCURRENT_REQUESTS, 1),
    maxQueuedRequests: integerSetting("maxQueuedRequests", plain.maxQueuedRequests ?? (legacy === undefined ? DEFAULT_MAX_QUEUED_REQUESTS : 0), 0),
    maxStopSequences: integerSetting("maxStopSequences", plain.maxStopSequences ?? 4, 1),
    kvCacheTokens: plain.kvCacheTokens === undefined ? undefined : integerSetting("kvCacheTokens", plain.kvCacheTokens, 1),
    maxBatchTokens: plain.maxBatchTokens === undefined ? undefined : integerSetting("maxBatchTokens", plain.maxBatchTokens, 1),
    prefixCaching: plain.prefixCaching !== false,
    checkWeights: plain.checkWeights !== false,
    verbose: plain.verbose === true,
  };
}

/** Weight formats the gpu backend stores. */
const GPU_FORMATS: readonly string[] = ["float32", "float16", "bfloat16"];

/** The kernels a config asks for: a backend on a device, or `auto` (the gpu backend if a GPU is found, else wasm). */
export type KernelPlan =
  | { readonly kind: "cpu"; readonly backend: KernelBackend }
  | { readonly kind: "gpu"; readonly device: string }
  | { readonly kind: "auto" };

/**
 * The weight format and kernels a config asks for; refuses, with MODEL_LOAD naming the setting, what the engine
 * cannot honour yet: a device or backend that do not go together, a dtype no kernel stores, flash attention (no
 * fused kernel). The cpu runs the wasm kernels unless `backend` says js (or gpu: its gpu.js kernels in gpu.js's cpu
 * mode); `gpu` and `cuda:0` run the gpu backend on the high-performance WebGPU adapter; `auto` takes the GPU when
 * one is found, the cpu's wasm kernels otherwise.
 */
export function refuseUnsupported(config: BackendConfig): { format: WeightFormat; plan: KernelPlan } {
  const refuse = (field: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${field} ${why}`, { field });
  };
  const { device, backend } = config;
  let plan: KernelPlan;
  if (device === "cpu") plan = { kind: "cpu", backend: backend ?? "wasm" };
  else if (device === "auto") {
    if (backend !== undefined) refuse("backend", `${backend}: leave it unset with device "auto", which picks the kernels too`);
    plan = { kind: "auto" };
  } else {
    if (device !== "gpu" && device !== "cuda:0") refuse("device", `${device}: WebGPU exposes one high-performance adapter, so only "gpu" (or "cuda:0") can be chosen`);
    if (backend !== undefined && backend !== "gpu") refuse("backend", `${backend}: runs on the cpu, not on device ${JSON.stringify(device)} (use backend "gpu" or leave it unset)`);
    plan = { kind: "gpu", device };
  }
  if (!isWeightFormat(config.dtype)) refuse("dtype", `${config.dtype}: not supported for this model (supported: ${WEIGHT_FORMATS.join(", ")})`);
  const gpuBackend = plan.kind === "gpu" || (plan.kind === "cpu" && plan.backend === "gpu");
  if (gpuBackend && !GPU_FORMATS.includes(config.dtype)) refuse("dtype", `${config.dtype}: the gpu backend stores float32, float16 or bfloat16 weights`);
  if (config.flashAttention) refuse("flashAttention", "true: no fused attention kernel is implemented so far");
  return { format: config.dtype as WeightFormat, plan };
}
