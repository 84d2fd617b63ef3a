/**
 * Worker-side entry of the model host: loads the model class named in the load message and serves its methods
 * as named operations through an {@link OperationQueue} (one at a time, in arrival order; a cancelled call that
 * has not started never runs). Each call says who asked (the host's thread or a connected client); when a
 * client is gone, the model's `onDisconnect` listeners run in the same queue. The model may queue work of its
 * own (`ctx.enqueue`) and let an operation answer later without holding the queue (`ctx.detach`): such a call is
 * still pending for its caller, and a cancel for it aborts the signal its wait was given. Every message is typed
 * in `protocol.ts`. A model that a failure left unusable gives the worker up (`ctx.crash`): the host then handles it
 * as the worker's death, and calls still queued here are answered with that failure.
 */
import { parentPort, type MessagePort } from "node:worker_threads";
import { InferenceError, serializeError } from "../errors.js";
import type { LoadContext } from "../model.js";
import { OWNER_CALLER, type CallMessage, type HostMessage, type LoadMessage, type WorkerMessage } from "../protocol.js";
import type { LoadProgress } from "../state.js";
import { operationNames } from "./operations.js";
import { OperationQueue } from "./queue.js";

if (parentPort === null) throw new Error("model-worker.js must run inside a worker thread");
const port: MessagePort = parentPort;

let model: Record<string, unknown> | undefined;
let operations = new Set<string>();
const queue = new OperationQueue();
/** Who asked for the operation running now (LoadContext.caller). */
let caller = OWNER_CALLER;
const disconnectListeners: ((caller: number) => void)[] = [];
/** Ids of the queue's own operations (disconnects, the model's enqueued tasks): negative, so never a call's. */
let nextInternalId = -1;
/** The call whose synchronous part runs now; `ctx.detach` marks it. */
let running: { readonly request: CallMessage; detached?: AbortController } | undefined;
/** Calls that answer later (detached), by id: a cancel aborts their wait's signal. */
const detachedCalls = new Map<number, { readonly op: string; readonly controller: AbortController }>();
/** Set once the model gave the worker up (`ctx.crash`): nothing runs any more. */
let gaveUp: InferenceError | undefined;

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

port.on("message", (message: HostMessage) => {
  switch (message.type) {
    case "load":
      void load(message);
      return;
    case "call":
      queue.push({ id: message.id, run: () => call(message), drop: () => post({ type: "result", id: message.id, ok: false, error: serializeError(dropped(message)) }) });
      return;
    case "cancel": {
      if (queue.cancel(message.id)) return;
      const waiting = detachedCalls.get(message.id);
      waiting?.controller.abort(new InferenceError("CANCELLED", `operation "${waiting.op}" was cancelled while it waited`));
      return;
    }
    case "disconnect":
      queue.push({ id: nextInternalId--, run: () => disconnect(message.caller), drop: () => undefined });
      return;
  }
});

/** Runs the model's disconnect listeners for `gone` (an exception in one does not stop the others). */
function disconnect(gone: number): void {
  caller = gone;
  try {
    for (const listener of disconnectListeners) {
      try {
        listener(gone);
      } catch {
        // a listener that throws frees less, but must not take the worker down
      }
    }
  } finally {
    caller = OWNER_CALLER;
  }
}

async function load(request: LoadMessage): Promise<void> {
  try {
    if (model !== undefined) throw new InferenceError("MODEL_LOAD", "this worker already holds a model");
    const mod = (await import(request.moduleUrl)) as Record<string, unknown>;
    const cls = mod[request.exportName] ?? findDefault(mod, request.exportName);
    if (typeof cls !== "function" || typeof (cls as { load?: unknown }).load !== "function") {
      throw new InferenceError("MODEL_LOAD", `${request.moduleUrl} has no export "${request.exportName}" with a static load()`);
    }
    const ctx: LoadContext = {
      progress(progress: LoadProgress) {
        post({ type: "progress", progress: { ...progress } });
      },
      get caller() {
        return caller;
      },
      onDisconnect(fn: (caller: number) => void) {
        disconnectListeners.push(fn);
      },
      enqueue(task: () => void) {
        queue.push({ id: nextInternalId--, run: () => runTask(task), drop: () => undefined });
      },
      detach<T>(wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
        const call = running;
        if (call === undefined) throw new InferenceError("VALIDATION", "detach() must be called synchronously inside a model operation");
        if (call.detached !== undefined) throw new InferenceError("VALIDATION", `operation "${call.request.op}" called detach() twice`);
        call.detached = new AbortController();
        return wait(call.detached.signal);
      },
      crash(error: unknown) {
        if (gaveUp !== undefined) return;
        gaveUp = InferenceError.is(error, "WORKER_CRASHED")
          ? error
          : new InferenceError("WORKER_CRASHED", `the model gave its worker up: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        post({ type: "fatal", error: serializeError(gaveUp) });
      },
    };
    const loaded = (await (cls as unknown as { load(args: unknown, ctx: LoadContext): unknown }).load(request.args, ctx)) as unknown;
    if (typeof loaded !== "object" || loaded === null) {
      throw new InferenceError("MODEL_LOAD", `${request.exportName}.load() did not return an object`);
    }
    model = loaded as Record<string, unknown>;
    operations = new Set(operationNames(model));
    post({ type: "loaded", ok: true, operations: [...operations] });
  } catch (error) {
    post({ type: "loaded", ok: false, error: serializeError(loadError(error)) });
  }
}

/** Every failed load is MODEL_LOAD with the worker's message; anything else thrown stays the `cause`, code and all. */
function loadError(error: unknown): InferenceError {
  if (InferenceError.is(error, "MODEL_LOAD")) return error;
  const field = InferenceError.is(error) ? error.field : undefined;
  return new InferenceError("MODEL_LOAD", error instanceof Error ? error.message : String(error), { cause: error, field });
}

function findDefault(mod: Record<string, unknown>, name: string): unknown {
  const candidate = mod.default;
  return typeof candidate === "function" && candidate.name === name ? candidate : undefined;
}

/** Runs one of the model's own tasks (`ctx.enqueue`); what it throws is the model's to report, not the queue's. */
function runTask(task: () => void): void {
  try {
    task();
  } catch {
    // a task that throws must not take the worker down
  }
}

/**
 * Runs one operation and posts its outcome (a value that cannot be cloned back is VALIDATION). An operation that
 * detached (`ctx.detach`) returns to the queue at once; its outcome is posted when it settles.
 */
async function call(request: CallMessage): Promise<void> {
  const current: { readonly request: CallMessage; detached?: AbortController } = { request };
  try {
    if (gaveUp !== undefined) throw gaveUp;
    if (model === undefined) throw new InferenceError("NOT_READY", "no model loaded in this worker");
    if (!operations.has(request.op)) throw new InferenceError("VALIDATION", `unknown model operation "${request.op}"`);
    const fn = model[request.op] as (...args: unknown[]) => unknown;
    caller = request.caller;
    running = current;
    let value: unknown;
    try {
      value = fn.apply(model, [...request.args]);
    } finally {
      running = undefined;
    }
    if (current.detached !== undefined) {
      caller = OWNER_CALLER;
      detachedCalls.set(request.id, { op: request.op, controller: current.detached });
      void Promise.resolve(value)
        .then((v) => reply(request, { type: "result", id: request.id, ok: true, value: v }), (error: unknown) => reply(request, failure(request, error)))
        .finally(() => detachedCalls.delete(request.id));
      return;
    }
    reply(request, { type: "result", id: request.id, ok: true, value: await value });
  } catch (error) {
    reply(request, failure(request, error));
  } finally {
    caller = OWNER_CALLER;
  }
}

function failure(request: CallMessage, error: unknown): WorkerMessage {
  return { type: "result", id: request.id, ok: false, error: serializeError(error) };
}

/** Posts the outcome of `request` (VALIDATION instead when its value cannot be cloned). */
function reply(request: CallMessage, message: WorkerMessage): void {
  try {
    post(message);
  } catch (error) {
    const unclonable = new InferenceError("VALIDATION", `operation "${request.op}" returned a value that is not structured-cloneable`, { cause: error });
    post({ type: "result", id: request.id, ok: false, error: serializeError(unclonable) });
  }
}

function dropped(request: CallMessage): InferenceError {
  return new InferenceError("CANCELLED", `operation "${request.op}" was cancelled before it ran`);
}
