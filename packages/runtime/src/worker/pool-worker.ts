/**
 * Worker-side entry of a {@link CpuPool} thread (piscina runs its default export once per task): imports the
 * task module once per thread, runs its default export, and returns the outcome as a {@link PoolReply}, so an
 * error's code, field and file reach the caller (piscina itself would pass only its name and message).
 */
import { serializeError } from "../errors.js";
import type { PoolReply, PoolTask } from "../protocol.js";

type TaskFunction = (task: unknown) => unknown;

const modules = new Map<string, Promise<TaskFunction>>();

/** Runs one task. */
export default async function runPoolTask(request: PoolTask): Promise<PoolReply> {
  try {
    const fn = await taskFunction(request.module);
    return { ok: true, value: await fn(request.task) };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}

/** The default export of `module` (imported once per thread). */
function taskFunction(module: string): Promise<TaskFunction> {
  let fn = modules.get(module);
  if (fn === undefined) {
    fn = import(module).then((mod: { default?: unknown }) => {
      if (typeof mod.default !== "function") throw new TypeError(`${module} has no default export function`);
      return mod.default as TaskFunction;
    });
    modules.set(module, fn);
    fn.catch(() => modules.delete(module));
  }
  return fn;
}
