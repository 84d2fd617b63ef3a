import type { ModelAccessor } from "./model.js";
import type { BackendState } from "./state.js";

/** A frozen accessor whose calls go through `call` with `signal` attached. */
export function signalledAccessor<M extends object>(
  call: (op: string, args: readonly unknown[], signal: AbortSignal | undefined) => Promise<unknown>,
  state: () => BackendState,
  signal: AbortSignal | undefined,
): ModelAccessor<M> {
  const accessor: ModelAccessor<M> = {
    call: ((op: string, ...args: unknown[]) => call(op, args, signal)) as ModelAccessor<M>["call"],
    get state() {
      return state();
    },
    withSignal: (next: AbortSignal) => signalledAccessor<M>(call, state, signal === undefined ? next : AbortSignal.any([signal, next])),
  };
  return Object.freeze(accessor);
}
