// At most `max` open connections, without letting slow clients lock normal ones out: a new connection over the limit
// takes the place of the connection idle longest — one with no request in flight, which is a client still sending
// its headers (slowly, or not at all) or a kept-alive connection between requests — and only when every connection
// has a request in flight is the new one closed at once. (Node's own `maxConnections` refuses the newcomer always,
// so a few hundred slow clients would keep everyone else out until their headers timeout.)
import type { Server } from "node:http";
import type { Socket } from "node:net";

/** Why a connection was closed by the limit: a newcomer refused, or an idle connection making room for one. */
export type LimitReason = "limit" | "evicted";

/** Holds one HTTP server to a number of open connections. */
export class ConnectionLimit {
  /** Connections with no request in flight, idle longest first (a Map keeps insertion order). */
  readonly #idle = new Map<Socket, true>();
  /** Requests in flight per connection (several when pipelined). */
  readonly #inFlight = new WeakMap<Socket, number>();
  #open = 0;

  /** Watches `server`'s connections; `onClose` hears of every connection the limit closes. */
  constructor(server: Server, readonly max: number, onClose: (reason: LimitReason) => void) {
    server.on("connection", (socket: Socket) => {
      this.#open++;
      this.#idle.set(socket, true);
      socket.once("close", () => {
        this.#open--;
        this.#idle.delete(socket);
      });
      if (this.#open <= max) return;
      const oldest = this.#idle.keys().next().value;
      if (oldest !== undefined && oldest !== socket) {
        this.#idle.delete(oldest);
        oldest.destroy();
        onClose("evicted");
      } else {
        socket.destroy();
        onClose("limit");
      }
    });
  }

  /** A request arrived on `socket` (its headers are in): the connection is busy until its response is over. */
  begin(socket: Socket): void {
    this.#inFlight.set(socket, (this.#inFlight.get(socket) ?? 0) + 1);
    this.#idle.delete(socket);
  }

  /** A request on `socket` is over; with none left in flight the connection is idle again (the most recent). */
  end(socket: Socket): void {
    const left = (this.#inFlight.get(socket) ?? 1) - 1;
    this.#inFlight.set(socket, left);
    if (left === 0 && !socket.destroyed) this.#idle.set(socket, true);
  }
}
