/** HTTP/1.1 over a raw loopback socket, for what fetch cannot do: pipelining, slow or short requests, invalid bytes. */
import { connect as netConnect, type Socket } from "node:net";

/** An open connection: everything received so far, and a promise that settles when it closed. */
export interface RawConnection {
  socket: Socket;
  /** The bytes received so far, as latin1 text (one char per byte). */
  data(): string;
  closed: Promise<void>;
}

/** Connects to the server at `url`. */
export async function connect(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = netConnect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined); // a reset is one way the server closes it
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return { socket, data: () => Buffer.concat(chunks).toString("latin1"), closed };
}

/** One request as bytes: a JSON body (or raw bytes) with its Content-Length. */
export function httpRequest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const lines = [`${method} ${path} HTTP/1.1`, "host: localhost", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push("content-type: application/json", `content-length: ${payload.length}`);
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), payload]);
}

/** One response read off a connection. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The body (chunked transfer decoded), as UTF-8 text. */
  body: string;
}

/** The responses in `data` (what {@link RawConnection.data} returned), in order; a cut-off last one is kept as far as it came. */
export function responsesIn(data: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = Buffer.from(data, "latin1");
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString("latin1").split("\r\n");
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
    rest = rest.subarray(end + 4);
    let body: Buffer;
    if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      body = rest.subarray(0, n);
      rest = rest.subarray(n);
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = rest.indexOf("\r\n");
        if (eol < 0) break;
        const size = parseInt(rest.subarray(0, eol).toString("latin1"), 16);
        rest = rest.subarray(eol + 2);
        if (size === 0) {
          rest = rest.subarray(2);
          break;
        }
        parts.push(rest.subarray(0, size));
        rest = rest.subarray(size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      body = rest;
      rest = Buffer.alloc(0);
    }
    out.push({ status: Number(statusLine.split(" ")[1]), headers, body: body.toString("utf8") });
  }
  return out;
}
