/**
 * Worker-side entry of the model host: loads the model class named in the load request and serves its
 * methods as named operations, strictly one at a time in arrival order (even async ones).
 */
import { expose } from "comlink";
import { parentPort } from "node:worker_threads";
import { InferenceError, serializeError } from "../errors.js";
import { nodeEndpoint } from "../endpoint.js";
import type { LoadContext } from "../model.js";
import { WORKER_EVENT, type CallReply, type CallRequest, type LoadReply, type LoadRequest, type WorkerApi, type WorkerEvent } from "../protocol.js";
import type { LoadProgress } from "../state.js";
import { operationNames } from "./operations.js";
import { SerialQueue } from "./serial-queue.js";

if (parentPort === null) throw new Error("model-worker.js must run inside a worker thread");
const port = parentPort;

let model: Record<string, unknown> | undefined;
let operations = new Set<string>();
const queue = new SerialQueue();

function post(event: WorkerEvent): void {
  port.postMessage(event);
}

async function load(request: LoadRequest): Promise<LoadReply> {
  try {
    if (model !== undefined) throw new InferenceError("MODEL_LOAD", "this worker already holds a model");
    const mod = (await import(request.moduleUrl)) as Record<string, unknown>;
    const cls = mod[request.exportName] ?? findDefault(mod, request.exportName);
    if (typeof cls !== "function" || typeof (cls as { load?: unknown }).load !== "function") {
      throw new InferenceError("MODEL_LOAD", `${request.moduleUrl} has no export "${request.exportName}" with a static load()`);
    }
    const ctx: LoadContext = {
      progress(progress: LoadProgress) {
        post({ tag: WORKER_EVENT, type: "progress", progress: { ...progress } });
      },
    };
    const loaded = (await (cls as unknown as { load(args: unknown, ctx: LoadContext): unknown }).load(request.args, ctx)) as unknown;
    if (typeof loaded !== "object" || loaded === null) {
      throw new InferenceError("MODEL_LOAD", `${request.exportName}.load() did not return an object`);
    }
    model = loaded as Record<string, unknown>;
    operations = new Set(operationNames(model));
    return { ok: true, operations: [...operations] };
  } catch (error) {
    return { ok: false, error: serializeError(loadError(error)) };
  }
}

/** Every failed load is MODEL_LOAD with the worker's message; anything else thrown stays the `cause`, code and all. */
function loadError(error: unknown): InferenceError {
  if (InferenceError.is(error, "MODEL_LOAD")) return error;
  return new InferenceError("MODEL_LOAD", error instanceof Error ? error.message : String(error), { cause: error });
}

function findDefault(mod: Record<string, unknown>, name: string): unknown {
  const candidate = mod.default;
  return typeof candidate === "function" && candidate.name === name ? candidate : undefined;
}

async function call(request: CallRequest): Promise<CallReply> {
  return queue.run(async (): Promise<CallReply> => {
    try {
      if (model === undefined) throw new InferenceError("NOT_READY", "no model loaded in this worker");
      if (!operations.has(request.op)) {
        throw new InferenceError("VALIDATION", `unknown model operation "${request.op}"`);
      }
      const fn = model[request.op] as (...args: unknown[]) => unknown;
      const value = await fn.apply(model, request.args);
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
  });
}

const api: WorkerApi = { load, call };
expose(api, nodeEndpoint(port));
