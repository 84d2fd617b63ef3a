/** @actorlm/runtime — builder, handler injection, jobs, the model-worker host, errors, backend config and lifecycle. */
export { ERROR_CODES, ERROR_STATUS, InferenceError, isErrorCode, serializeError, deserializeError, cancelledError } from "./errors.js";
export type { ErrorCode, SerializedError } from "./errors.js";
export { DataTypes, findDataType, parseDataType, bytesFor } from "./dtype.js";
export type { DataType, DataTypeName, DataTypeLike } from "./dtype.js";
export { BackendConfig, DEFAULT_MAX_SEQUENCE_LENGTH, isDevice, isKernelBackend } from "./config.js";
export type { BackendConfigInit, Device, KernelBackend } from "./config.js";
export { BackendState } from "./state.js";
export type { BackendEvents, LoadProgress, StateChange } from "./state.js";
export type { LoadContext, ModelClass, ModelAccessor, OpName, OpArgs, OpResult } from "./model.js";
export { ModelHost } from "./host.js";
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
export { Channel, JobStream, DEFAULT_BUFFER_SIZE } from "./stream.js";
export type { OutStream } from "./stream.js";
export { Job, JobBuilder } from "./job.js";
export type { JobStatus } from "./job.js";
export { Inference } from "./inference.js";
export { InferenceBuilder } from "./builder.js";
export { CpuPool } from "./pool.js";
export type { CpuPoolOptions } from "./pool.js";
