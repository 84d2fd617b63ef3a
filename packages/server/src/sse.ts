// Server-sent events over a raw HTTP response: `data: <json>\n\n` per event, waiting for the socket to drain when
// the client reads slowly (so a slow reader slows its generation down instead of growing memory).
import type { ServerResponse } from "node:http";
import type { FastifyReply } from "fastify";

/** An open event stream to one client. */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #gone: AbortSignal;

  private constructor(res: ServerResponse, gone: AbortSignal) {
    this.#res = res;
    this.#gone = gone;
  }

  /**
   * Takes the response over from fastify and sends the event-stream headers (status 200). `gone` aborts when the
   * client left: a response queued behind another on a pipelined connection is never told that its connection closed.
   */
  static open(reply: FastifyReply, gone: AbortSignal): SseStream {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    return new SseStream(res, gone);
  }

  /** True once the client went away or the stream was ended. */
  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded || this.#gone.aborted;
  }

  /** Sends one `data:` event: a string as is (e.g. `[DONE]`), anything else as JSON. Resolves once it may send more. */
  async send(data: unknown): Promise<void> {
    if (this.closed) return;
    const text = typeof data === "string" ? data : JSON.stringify(data);
    if (this.#res.write(`data: ${text}\n\n`)) return;
    const res = this.#res;
    const gone = this.#gone;
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off("drain", done).off("close", done);
        gone.removeEventListener("abort", done);
        resolve();
      };
      res.on("drain", done).on("close", done);
      gone.addEventListener("abort", done);
    });
  }

  /** Ends the stream (no-op when already closed). */
  end(): void {
    if (!this.closed) this.#res.end();
  }
}
