/**
 * Every message between the host (main thread) and the model worker. RPC goes through comlink on the
 * worker's port with the {@link WorkerApi} below; errors never travel as comlink throws but as
 * {@link SerializedError} inside the replies, so codes survive. One extra one-way message, the
 * {@link WorkerEvent}, reports load progress.
 */
import type { SerializedError } from "./errors.js";
import type { LoadProgress } from "./state.js";

/** Host → worker: load the model. */
export interface LoadRequest {
  /** URL of the module exporting the model class. */
  moduleUrl: string;
  /** Export name of the class in that module. */
  exportName: string;
  /** The class's `load` arguments (structured-cloneable). */
  args: unknown;
}

/** Worker → host: load outcome, with the operation names the model serves. */
export type LoadReply = { ok: true; operations: string[] } | { ok: false; error: SerializedError };

/** Host → worker: run one named operation. */
export interface CallRequest {
  /** Name of the model method to run. */
  op: string;
  /** Its arguments (structured-cloneable). */
  args: unknown[];
}

/** Worker → host: operation outcome. */
export type CallReply = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/** The API the worker exposes through comlink. */
export interface WorkerApi {
  /** Loads the model (once per worker). */
  load(request: LoadRequest): Promise<LoadReply>;
  /** Queues one operation; operations run strictly one at a time in arrival order. */
  call(request: CallRequest): Promise<CallReply>;
}

/** Tag that marks a {@link WorkerEvent} apart from comlink traffic. */
export const WORKER_EVENT = "actorlm:event" as const;

/** Worker → host one-way events. */
export type WorkerEvent = { tag: typeof WORKER_EVENT; type: "progress"; progress: LoadProgress };

/** Tells whether a message from the worker is a {@link WorkerEvent}. */
export function isWorkerEvent(data: unknown): data is WorkerEvent {
  return typeof data === "object" && data !== null && (data as { tag?: unknown }).tag === WORKER_EVENT;
}
