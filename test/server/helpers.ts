/** Shared by the server tests: a server on loopback with the embedded model, HTTP helpers, SSE parsing, metrics. */
import { EMBEDDED_MODEL_DIR, generate, type Completion, type GenerateRequest } from "@actorlm/llm";
import { createServer, type ActorlmServer, type RequestLog, type ServedModel, type ServerOptions } from "@actorlm/server";
import { hostModel } from "../generation/helpers.js";

export { EMBEDDED_MODEL_DIR };
/** The name the embedded model is served under. */
export const MODEL = "kjv-llama";

/** A started server and its base URL. */
export interface Running {
  server: ActorlmServer;
  url: string;
  close(): Promise<void>;
}

/** Starts a server on a free loopback port with the embedded model (or `options.models`), resolved once ready. */
export async function startServer(options: Partial<ServerOptions> = {}): Promise<Running> {
  const server = createServer({ models: [EMBEDDED_MODEL_DIR], port: 0, ...options });
  const url = await server.start();
  return { server, url, close: () => server.close(0) };
}

/** A JSON response: status, headers and parsed body. */
export interface JsonResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON (a test-side view of arbitrary JSON). */
  body: any;
}

/** POSTs `body` (JSON-encoded unless a string) and parses the JSON answer. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}

/** The `data:` payloads of an SSE response body, as they arrive. */
export async function* sseData(res: Response): AsyncGenerator<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) if (line.startsWith("data: ")) yield line.slice(6);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Every `data:` payload of a streaming POST, after the stream closed, plus the status. */
export async function postStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; events: string[] }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  if (!res.headers.get("content-type")?.startsWith("text/event-stream")) return { status: res.status, events: [await res.text()] };
  const events: string[] = [];
  for await (const data of sseData(res)) events.push(data);
  return { status: res.status, events };
}

/** The value of one sample in Prometheus text (`name{labels} value`); undefined when absent. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (.+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** GET /metrics as text. */
export async function scrape(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/**
 * Resolves once the engine's counts of `model` (generations in its batch, and waiting to join it) satisfy `ok`:
 * asked again after each answer (every question is a round trip through the model worker's FIFO); fails after `timeoutMs`.
 */
export async function admitted(model: ServedModel, ok: (active: number, queued: number) => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { active, queued } = await model.requests();
    if (ok(active, queued)) return;
    if (Date.now() > deadline) throw new Error(`engine counts never matched (last: ${active} active, ${queued} queued)`);
  }
}

/** Resolves with the next finished request the server logs that `match` accepts. */
export function nextRequest(server: ActorlmServer, match: (log: RequestLog) => boolean = () => true): Promise<RequestLog> {
  return new Promise((resolve) => {
    const on = (log: RequestLog) => {
      if (!match(log)) return;
      server.off("request", on);
      resolve(log);
    };
    server.on("request", on);
  });
}

/** The library's own greedy completions (the reference every HTTP answer must equal), from a worker of its own. */
export interface Reference {
  /** generate() of `request` (greedy unless the request says otherwise). */
  of(request: GenerateRequest): Promise<Completion>;
  close(): Promise<void>;
}

/** Loads the embedded model for {@link Reference} completions. */
export async function referenceModel(): Promise<Reference> {
  const model = await hostModel();
  return {
    of: (request) => generate(model.inference, { temperature: 0, ...request }),
    close: () => model.close(),
  };
}
