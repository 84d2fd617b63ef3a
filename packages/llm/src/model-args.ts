// LlamaModel's load arguments: checked on the caller's thread before any worker starts (VALIDATION naming the
// field), then settings the engine cannot honour yet are refused by name at load (MODEL_LOAD).
import { BackendConfig, integerSetting, type BackendConfigInit } from "@actorlm/runtime";
import { LlmError } from "./errors.js";
import { refuseUnknownFields } from "./fields.js";
import { isObject } from "./json-file.js";

/** How to load a model: the backend config, plus the worker's own limits. */
export interface LlamaModelArgs extends BackendConfigInit {
  /** Most sequences (KV slots) alive at once; a request beyond it is refused with OVERLOADED. Default 64. */
  maxSequences?: number;
  /** Most stop strings one request may give. Default 4. */
  maxStopSequences?: number;
}

/** Load arguments after checking, defaults filled in. */
export interface LoadSettings {
  readonly config: BackendConfig;
  readonly maxSequences: number;
  readonly maxStopSequences: number;
}

const FIELDS: readonly (keyof LlamaModelArgs)[] = [
  "model", "device", "dtype", "maxSequenceLength", "flashAttention", "threads", "maxSequences", "maxStopSequences",
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
  };
}

/**
 * Refuses, with MODEL_LOAD naming the setting, what the engine cannot honour yet: a device other than the CPU,
 * a compute dtype other than float32 (f16/bf16 weights are upcast to it), flash attention (no fused kernel yet).
 * `threads` is passed through to the kernels.
 */
export function refuseUnsupported(config: BackendConfig): void {
  const refuse = (field: string, why: string): never => {
    throw new LlmError("MODEL_LOAD", `${field} ${why}`, { field });
  };
  if (config.device !== "cpu") refuse("device", `${config.device}: only "cpu" is implemented so far`);
  if (config.dtype !== "float32") refuse("dtype", `${config.dtype}: only float32 compute is implemented so far (f16/bf16 weights are upcast to it)`);
  if (config.flashAttention) refuse("flashAttention", "true: no fused attention kernel is implemented so far");
}
