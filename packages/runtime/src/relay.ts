/**
 * The host's side of its clients on other threads (`ModelHost.connect()`): one MessagePort per client, whose
 * calls join the host's own in the model worker's one FIFO. A client that closes, or whose thread exits, has its
 * queued calls cancelled and the model told (`disconnect`), so it frees what that client held.
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { serializeError } from "./errors.js";
import type { ClientMessage, HostToClientMessage } from "./protocol.js";

/** How the relay reaches the model: a call on behalf of `caller`, and the news that `caller` is gone. */
export interface RelayTarget {
  call(op: string, args: readonly unknown[], signal: AbortSignal, caller: number): Promise<unknown>;
  disconnect(caller: number): void;
}

interface Client {
  readonly caller: number;
  readonly port: MessagePort;
  /** Its calls in flight, by the client's call id. */
  readonly calls: Map<number, AbortController>;
}

/** Every client of one host. */
export class ClientRelay {
  readonly #target: RelayTarget;
  readonly #clients = new Set<Client>();
  #nextCaller = 1;

  /** Creates a relay that sends the clients' calls to `target`. */
  constructor(target: RelayTarget) {
    this.#target = target;
  }

  /** Clients connected now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * A new client: returns the port to hand to its thread (transfer it), after queueing `greeting` (the host's
   * state) on it. The host's end never keeps its thread alive.
   */
  connect(greeting: readonly HostToClientMessage[]): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const client: Client = { caller: this.#nextCaller++, port: port1, calls: new Map() };
    this.#clients.add(client);
    port1.on("message", (message: ClientMessage) => this.#receive(client, message));
    port1.on("close", () => this.#drop(client));
    port1.unref();
    for (const message of greeting) port1.postMessage(message);
    return port2;
  }

  /** Sends `message` to every client. */
  broadcast(message: HostToClientMessage): void {
    for (const client of this.#clients) client.port.postMessage(message);
  }

  /** Tells every client the host closed, and lets them go. */
  closeAll(): void {
    for (const client of [...this.#clients]) {
      client.port.postMessage({ type: "closed" } satisfies HostToClientMessage);
      this.#drop(client);
      client.port.close();
    }
  }

  #receive(client: Client, message: ClientMessage): void {
    switch (message.type) {
      case "call": {
        const controller = new AbortController();
        client.calls.set(message.id, controller);
        this.#target.call(message.op, message.args, controller.signal, client.caller).then(
          (value) => this.#reply(client, { type: "result", id: message.id, ok: true, value }),
          (error: unknown) => this.#reply(client, { type: "result", id: message.id, ok: false, error: serializeError(error) }),
        );
        return;
      }
      case "cancel":
        client.calls.get(message.id)?.abort();
        return;
      case "close":
        this.#drop(client);
        client.port.close();
        return;
    }
  }

  #reply(client: Client, message: HostToClientMessage & { type: "result" }): void {
    if (!client.calls.delete(message.id)) return; // the client is gone
    client.port.postMessage(message);
  }

  /** Forgets `client`: its queued calls leave the worker's queue, and the model frees what it held. */
  #drop(client: Client): void {
    if (!this.#clients.delete(client)) return;
    for (const controller of client.calls.values()) controller.abort();
    client.calls.clear();
    this.#target.disconnect(client.caller);
  }
}
