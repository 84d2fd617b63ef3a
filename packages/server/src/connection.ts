// When a client is gone. Node tells a response that its connection closed only while that response is the one being
// written: responses queued behind it on a pipelined keep-alive connection are never told, so their work would run
// on for a client that left. Each request therefore watches its connection too, through one listener per socket.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** The requests of each open connection still waiting for their response to close. */
const watched = new WeakMap<Socket, Set<() => void>>();

function onSocketClose(this: Socket): void {
  const pending = watched.get(this);
  watched.delete(this);
  for (const fire of pending ?? []) fire();
}

/**
 * Calls `onClose` once, when the response closed or the connection under the request did (whichever first), with
 * `abandoned` true when the response was not completely sent by then (the client left, or never got it).
 */
export function whenClosed(req: IncomingMessage, res: ServerResponse, onClose: (abandoned: boolean) => void): void {
  const socket = req.socket;
  let pending = watched.get(socket);
  if (pending === undefined) {
    pending = new Set();
    watched.set(socket, pending);
    socket.once("close", onSocketClose);
  }
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    res.off("close", fire);
    watched.get(socket)?.delete(fire);
    onClose(!res.writableFinished);
  };
  if (socket.destroyed) return void queueMicrotask(fire);
  pending.add(fire);
  res.once("close", fire);
}
