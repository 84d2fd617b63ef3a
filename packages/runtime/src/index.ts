/** @actorlm/runtime — builder, handler injection, jobs, the model-worker host, errors, backend config and lifecycle. */
export {
  ERROR_CODES, ERROR_STATUS, InferenceError, isErrorCode, serializeError, deserializeError, registerErrorClass, cancelledError,
  formatFieldPath, toFieldPath,
} from "./errors.js";
export type { ErrorCode, ErrorRestorer, FieldPath, InferenceErrorOptions, SerializedError } from "./errors.js";
export { DATA_TYPE_NAMES } from "./dtype.js";
export type { DataTypeName, DataTypeLike } from "./dtype.js";
export { BackendConfig, isDevice, isKernelBackend } from "./config.js";
export type { BackendConfigInit, Device, KernelBackend } from "./config.js";
export { integerSetting } from "./options.js";
export { jsRuntime, type JsRuntime } from "./js-runtime.js";
export { BackendState } from "./state.js";
export type { BackendEvents, LoadProgress, StateChange } from "./state.js";
export type { LoadContext, ModelClass, ModelAccessor, SharedModel, OpName, OpArgs, OpResult } from "./model.js";
export { ModelHost } from "./host.js";
export { ModelClient } from "./client.js";
export type { HostOptions, ModelArgs } from "./host.js";
export { In, Model, Cancel, Out, State, defineExtractor, handler } from "./handler.js";
export type {
  Extractor,
  ExtractorKind,
  ExtractorFn,
  ExtractContext,
  Handler,
  InToken,
  ModelToken,
  OutToken,
  StateToken,
  CancelExtractor,
  ArgsOf,
  ReqOf,
  OutOf,
  StateOf,
  ModelOf,
} from "./handler.js";
export type { CancelToken } from "./cancel.js";
export { Channel, JobStream, DEFAULT_BUFFER_SIZE, DEFAULT_STREAM_IDLE_TIMEOUT } from "./stream.js";
export type { ChannelOptions, OutStream } from "./stream.js";
export { Job, JobBuilder } from "./job.js";
export type { JobStatus } from "./job.js";
export { Inference } from "./inference.js";
export { InferenceBuilder } from "./builder.js";
export { CpuPool } from "./pool.js";
export type { CpuPoolOptions } from "./pool.js";
