// LlamaModel's load arguments: checked on the caller's thread before any worker starts (VALIDATION naming the
// field), then settings the engine cannot honour yet are refused by name at load (MODEL_LOAD).
import { BackendConfig, integerSetting, type BackendConfigInit, type KernelBackend } from "@actorlm/runtime";
import { WEIGHT_FORMATS, isWeightFormat, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "./errors.js";
import { refuseUnknownFields } from "./fields.js";
import { isObject } from "./json-file.js";

/** How to load a model: the backend config, plus the worker's own limits. */
export interface LlamaModelArgs extends BackendConfigInit {
  /** Most sequences (KV slots) alive at once; a request beyond it is refused with OVERLOADED. Default 64. */
  maxSequences?: number;
  /** Most stop strings one request may give. Default 4. */
  maxStopSequences?: number;
  /** KV cache pool size in tokens. Default: room for 4 full-length sequences, at most 256 MiB. */
  kvCacheTokens?: number;
  /** Most tokens one forward pass takes (longer prompts are prefilled in chunks). Default 512. */
  maxBatchTokens?: number;
}

/** Load arguments after checking, defaults filled in. */
export interface LoadSettings {
  readonly config: BackendConfig;
  readonly maxSequences: number;
  readonly maxStopSequences: number;
  readonly kvCacheTokens: number | undefined;
  readonly maxBatchTokens: number | undefined;
}

const FIELDS: readonly (keyof LlamaModelArgs)[] = [
  "model", "device", "dtype", "maxSequenceLength", "flashAttention", "threads", "backend", "maxSequences", "maxStopSequences",
  "kvCacheTokens", "maxBatchTokens",
];

/**
 * Checks LlamaModel's load arguments (a model directory, or {@link LlamaModelArgs}); throws VALIDATION naming the
 * bad field (an unknown one with a hint; `args` itself when it is neither a string nor an object).
 */
export function parseModelArgs(args: unknown): LoadSettings {
  const plain = typeof args === "string" ? { model: args } : args;
  if (!isObject(plain)) {
    const got = plain === null ? "null" : plain === undefined ? "nothing" : typeof plain;
    throw new LlmError("VALIDATION", `args: LlamaModel needs a model directory or { model: directory, ... }, got ${got}`, { field: "args" });
  }
  refuseUnknownFields(plain, FIELDS);
  return {
    config: new BackendConfig(plain as unknown as BackendConfigInit).validate(),
    maxSequences: integerSetting("maxSequences", plain.maxSequences ?? 64, 1),
    maxStopSequences: integerSetting("maxStopSequences", plain.maxStopSequences ?? 4, 1),
    kvCacheTokens: plain.kvCacheTokens === undefined ? undefined : integerSetting("kvCacheTokens", plain.kvCacheTokens, 1),
    maxBatchTokens: plain.maxBatchTokens === undefined ? undefined : integerSetting("maxBatchTokens", plain.maxBatchTokens, 1),
  };
}

/**
 * The weight format and kernels a config asks for; refuses, with MODEL_LOAD naming the setting, what the engine
 * cannot honour yet: a device without a backend in this build, a dtype no kernel stores, flash attention (no
 * fused kernel). The cpu runs the wasm kernels unless `backend` says js.
 */
export function refuseUnsupported(config: BackendConfig): { format: WeightFormat; backend: KernelBackend } {
  const refuse = (field: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${field} ${why}`, { field });
  };
  if (config.device !== "cpu") refuse("device", `${config.device}: no GPU backend in this build (use "cpu")`);
  if (config.backend === "gpu") refuse("backend", `gpu: needs device "gpu"`);
  if (!isWeightFormat(config.dtype)) refuse("dtype", `${config.dtype}: not supported for this model (supported: ${WEIGHT_FORMATS.join(", ")})`);
  if (config.flashAttention) refuse("flashAttention", "true: no fused attention kernel is implemented so far");
  return { format: config.dtype as WeightFormat, backend: config.backend ?? "wasm" };
}
