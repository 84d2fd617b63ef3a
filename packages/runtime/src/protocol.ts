/**
 * Every message between threads: the model host and its model worker, a host and its clients on other threads
 * (`ModelHost.connect()`), a CpuPool and its threads. Errors never travel as thrown values but as
 * {@link SerializedError} inside replies, so codes, fields and files survive every hop.
 */
import type { SerializedError } from "./errors.js";
import type { BackendState, LoadProgress } from "./state.js";

/** The caller id of the host's own thread; each connected client gets its own (1, 2, ...). */
export const OWNER_CALLER = 0;

/** Host → worker: load the model (once per worker). */
export interface LoadMessage {
  readonly type: "load";
  /** URL of the module exporting the model class. */
  readonly moduleUrl: string;
  /** Export name of the class in that module. */
  readonly exportName: string;
  /** The class's `load` arguments (structured-cloneable). */
  readonly args: unknown;
}

/** Host → worker: run one named operation after every operation queued before it. */
export interface CallMessage {
  readonly type: "call";
  /** Unique per worker; the reply carries it back. */
  readonly id: number;
  /** Who asked: {@link OWNER_CALLER} or a connected client's id (the model sees it as `LoadContext.caller`). */
  readonly caller: number;
  /** Name of the model method to run. */
  readonly op: string;
  /** Its arguments (structured-cloneable). */
  readonly args: readonly unknown[];
}

/** Host → worker: drop call `id` if it is still queued (its reply is then CANCELLED); a running call finishes. */
export interface CancelMessage {
  readonly type: "cancel";
  readonly id: number;
}

/**
 * Host → worker: client `caller` is gone (closed, or its thread exited). Queued after every call before it, it
 * runs the model's `onDisconnect` listeners so the model frees what that caller held.
 */
export interface DisconnectMessage {
  readonly type: "disconnect";
  readonly caller: number;
}

/** Every message the host sends to its worker. */
export type HostMessage = LoadMessage | CallMessage | CancelMessage | DisconnectMessage;

/** Worker → host: the load outcome, with the operation names the model serves. */
export type LoadedMessage =
  | { readonly type: "loaded"; readonly ok: true; readonly operations: readonly string[] }
  | { readonly type: "loaded"; readonly ok: false; readonly error: SerializedError };

/** Worker → host: the outcome of call `id`. */
export type ResultMessage =
  | { readonly type: "result"; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: "result"; readonly id: number; readonly ok: false; readonly error: SerializedError };

/** Worker → host: load progress reported by the model. */
export interface ProgressMessage {
  readonly type: "progress";
  readonly progress: LoadProgress;
}

/**
 * Worker → host: the model gave up (`LoadContext.crash`): a failure left it unusable. The host handles it as the
 * worker's death: every pending call fails with WORKER_CRASHED (this error as the cause) and the worker is terminated.
 */
export interface FatalMessage {
  readonly type: "fatal";
  readonly error: SerializedError;
}

/** Every message the worker sends to its host. */
export type WorkerMessage = LoadedMessage | ResultMessage | ProgressMessage | FatalMessage;

/** Client → host, over the port `ModelHost.connect()` returned: run, cancel (see {@link CallMessage}), or leave. */
export type ClientMessage =
  | { readonly type: "call"; readonly id: number; readonly op: string; readonly args: readonly unknown[] }
  | { readonly type: "cancel"; readonly id: number }
  | { readonly type: "close" };

/**
 * Host → client: the host's state (first on connecting, then on every change), load progress, call outcomes,
 * and `closed` once the host's owner closed it.
 */
export type HostToClientMessage =
  | { readonly type: "state"; readonly state: BackendState; readonly error?: SerializedError }
  | ProgressMessage
  | ResultMessage
  | { readonly type: "closed" };

/** Main thread → CpuPool thread: run the default export of `module` on `task`. */
export interface PoolTask {
  /** URL of the task module (built JavaScript). */
  readonly module: string;
  /** The task itself (structured-cloneable). */
  readonly task: unknown;
}

/** CpuPool thread → main thread: the task's result, or what it threw as plain data (so codes survive). */
export type PoolReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: SerializedError };
