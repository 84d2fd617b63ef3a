import type { Endpoint } from "comlink";
import type { MessagePort, Worker } from "node:worker_threads";

type Port = Pick<Worker, "on" | "off" | "postMessage"> | Pick<MessagePort, "on" | "off" | "postMessage">;
type Listener = Parameters<Endpoint["addEventListener"]>[1];

/**
 * Adapts a Node worker (host side) or `parentPort` (worker side) to comlink's DOM-style Endpoint.
 * Messages for which `ignore` returns true are not shown to comlink (the caller handles them itself).
 */
export function nodeEndpoint(port: Port, ignore?: (data: unknown) => boolean): Endpoint {
  const wrapped = new Map<Listener, (data: unknown) => void>();
  return {
    postMessage(message: unknown, transfer?: readonly unknown[]) {
      (port.postMessage as (m: unknown, t?: readonly unknown[]) => void)(message, transfer);
    },
    addEventListener(_type: string, listener: Listener) {
      const handler = (data: unknown) => {
        if (ignore?.(data)) return;
        const event = { data } as MessageEvent;
        if (typeof listener === "function") listener(event);
        else listener.handleEvent(event);
      };
      wrapped.set(listener, handler);
      (port.on as (e: "message", h: (data: unknown) => void) => void)("message", handler);
    },
    removeEventListener(_type: string, listener: Listener) {
      const handler = wrapped.get(listener);
      if (handler === undefined) return;
      wrapped.delete(listener);
      (port.off as (e: "message", h: (data: unknown) => void) => void)("message", handler);
    },
  };
}
