/**
 * Every message between the model host (main thread) and its model worker, in both directions. Errors never
 * travel as thrown values but as {@link SerializedError} inside replies, so codes, fields and files survive.
 */
import type { SerializedError } from "./errors.js";
import type { LoadProgress } from "./state.js";

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

/** Every message the host sends to its worker. */
export type HostMessage = LoadMessage | CallMessage | CancelMessage;

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

/** Every message the worker sends to its host. */
export type WorkerMessage = LoadedMessage | ResultMessage | ProgressMessage;

/** Main thread → CpuPool thread: run the default export of `module` on `task`. */
export interface PoolTask {
  /** URL of the task module (built JavaScript). */
  readonly module: string;
  /** The task itself (structured-cloneable). */
  readonly task: unknown;
}

/** CpuPool thread → main thread: the task's result, or what it threw as plain data (so codes survive). */
export type PoolReply = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: SerializedError };
