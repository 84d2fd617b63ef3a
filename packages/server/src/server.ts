// The HTTP server: wires the models, metrics, auth, error shapes and routes into one fastify instance, follows each
// request to its end (its connection included), holds clients to the connection timeouts and limit, listens before
// the models load (so /health answers 503 meanwhile), and shuts down gracefully (lifecycle.ts: drain, then refuse).
import { setMaxListeners } from "node:events";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { EventEmitter } from "eventemitter3";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { InferenceError, type LoadProgress, type ModelClass, type StateChange } from "@actorlm/runtime";
import { LlmEngine, type LlmEngineArgs } from "@actorlm/llm";
import { version } from "../package.json";
import { ApiKeyCheck, PUBLIC_PATHS } from "./auth.js";
import { whenClosed } from "./connection.js";
import { ConnectionLimit } from "./connection-limit.js";
import { healthRoutes } from "./health.js";
import { Lifecycle, LIFECYCLE_PATHS, type Phase } from "./lifecycle.js";
import { parseJsonBody } from "./json-body.js";
import type { RequestLog, RequestRecord, ServerContext, ServerEvents } from "./context.js";
import { ApiError, errorBodyFor, type FieldNames } from "./http-errors.js";
import { outcomeOfStatus, ServerMetrics } from "./metrics.js";
import { ModelRegistry, modelNameOf, type EngineOptions, type ModelSource, type ServedModel } from "./models.js";
import { openAiRoutes } from "./routes/openai.js";
import { playgroundRoutes } from "./routes/playground.js";
import { tgiRoutes } from "./routes/tgi.js";
import type { RestartPolicy } from "./supervisor.js";

/** How to run a server. Every limit has a safe default. */
export interface ServerOptions {
  /** Models to serve: a directory (named after its last path segment) or `{ name, dir }`. At least one. */
  models: readonly (string | ModelSource)[];
  /** Engine settings for every model (dtype, device, threads, max sequence length, flash attention). */
  engine?: EngineOptions;
  /** Interface to bind. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** When set, every route but the playground and /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Generations in each model's batch at once (the engine's maxConcurrentRequests). Default 16. */
  maxConcurrent?: number;
  /** Requests that may wait to join each model's batch (the engine's maxQueuedRequests); beyond, 429. Default 64. */
  maxQueued?: number;
  /** Largest request body in bytes; beyond, 413. Default 1 MiB. */
  bodyLimit?: number;
  /** Longest prompt (or chat messages' content) in characters; beyond, 422. Default 65 536. */
  maxPromptChars?: number;
  /** Most stop strings per request. Default 4. */
  maxStopSequences?: number;
  /**
   * How long the requests that arrived before new ones were refused may run on before they are cancelled (ms),
   * counted from the end of the drain delay. Default 10 000.
   */
  shutdownGraceMs?: number;
  /**
   * How long close() keeps serving after it turned /health to 503, before it refuses new requests (ms): time for a
   * load balancer that polls /health to stop sending. Default 0 (refuse at once).
   */
  drainDelay?: number;
  /** How long a client may take to send a request's headers (ms); then 408 and the connection is closed. Default 30 000. */
  headersTimeout?: number;
  /** How long a client may take to send a whole request, body included (ms); then 408, closed. ≥ headersTimeout. Default 60 000. */
  requestTimeout?: number;
  /** How long an idle keep-alive connection stays open between requests (ms). Default 72 000. */
  keepAliveTimeout?: number;
  /**
   * Most open connections. One more takes the place of the connection idle longest (still sending its headers, or
   * kept alive between requests), which is closed; when every connection has a request in flight, the newcomer is
   * closed at once, unanswered. Default 512.
   */
  maxConnections?: number;
  /** Restart timing for crashed model workers. */
  restart?: RestartPolicy;
  /** The model class hosted in each worker. Default LlmEngine. */
  modelClass?: ModelClass<LlmEngine, LlmEngineArgs>;
}

/** What a server reports besides finished requests: model state changes, load progress, restarts. */
export interface ActorlmServerEvents extends ServerEvents {
  state: [model: string, change: StateChange];
  progress: [model: string, progress: LoadProgress];
  restarting: [model: string, attempt: number, delayMs: number];
  restarted: [model: string, attempt: number, error?: unknown];
}

/** After the grace period, how long cancelled responses get to end before their connections are closed (ms). */
const FORCE_CLOSE_MS = 2000;

/** Defaults of the connection limits (see {@link ServerOptions}). */
export const CONNECTION_DEFAULTS: Readonly<ConnectionLimits> = Object.freeze({ headersTimeout: 30_000, requestTimeout: 60_000, keepAliveTimeout: 72_000, maxConnections: 512 });

/** The connection settings of {@link ServerOptions}. */
type ConnectionLimits = Required<Pick<ServerOptions, "headersTimeout" | "requestTimeout" | "keepAliveTimeout" | "maxConnections">>;

const positive = (name: string, value: number, min = 1): number => {
  if (!Number.isSafeInteger(value) || value < min) throw new InferenceError("VALIDATION", `${name}: must be an integer ≥ ${min}, got ${value}`);
  return value;
};

/** An actorlm HTTP server: OpenAI and TGI APIs, metrics, playground. Create it, `start()` it, `close()` it. */
export class ActorlmServer extends EventEmitter<ActorlmServerEvents> {
  readonly app: FastifyInstance;
  readonly models: ModelRegistry;
  readonly metrics: ServerMetrics;
  readonly #options: ServerOptions;
  readonly #shutdown = new AbortController();
  readonly #lifecycle = new Lifecycle();
  readonly #inflight = new Set<Promise<void>>();
  /**
   * The request each connection is reading, until its response closed (a request timeout on that connection
   * concerns it while its body is incomplete). Its record and raw message only: never the parsed body.
   */
  readonly #reading = new WeakMap<Socket, { raw: IncomingMessage; record: RequestRecord }>();
  #closing: Promise<void> | undefined;
  #url: string | undefined;

  /** Builds the server (nothing listens or loads yet). VALIDATION naming a bad option. */
  constructor(options: ServerOptions) {
    super();
    this.#options = options;
    setMaxListeners(0, this.#shutdown.signal); // every in-flight request listens to it
    const maxConcurrent = positive("maxConcurrent", options.maxConcurrent ?? 16);
    const maxQueued = positive("maxQueued", options.maxQueued ?? 64, 0);
    positive("drainDelay", options.drainDelay ?? 0, 0);
    positive("shutdownGraceMs", options.shutdownGraceMs ?? 10_000, 0);
    const limits = {
      maxPromptChars: positive("maxPromptChars", options.maxPromptChars ?? 65_536),
      maxStopSequences: positive("maxStopSequences", options.maxStopSequences ?? 4),
    };
    const sources = options.models.map((m): ModelSource => (typeof m === "string" ? { name: modelNameOf(m), dir: m } : m));
    this.models = new ModelRegistry(sources, {
      engine: options.engine ?? {},
      maxActive: maxConcurrent,
      maxQueued,
      maxStopSequences: limits.maxStopSequences,
      restart: options.restart ?? {},
      modelClass: options.modelClass ?? LlmEngine,
    });
    this.metrics = new ServerMetrics(() => this.models.list());
    for (const model of this.models.list()) this.#follow(model);

    const auth = options.apiKey === undefined ? undefined : new ApiKeyCheck(options.apiKey);
    const connections = connectionLimits(options);
    this.app = Fastify({
      logger: false,
      bodyLimit: positive("bodyLimit", options.bodyLimit ?? 1024 * 1024),
      forceCloseConnections: "idle",
      return503OnClosing: false, // answered by the onRequest hook below, in the route's error shape
      requestTimeout: connections.requestTimeout,
      keepAliveTimeout: connections.keepAliveTimeout,
      http: {
        headersTimeout: connections.headersTimeout,
        requestTimeout: connections.requestTimeout,
        // Node looks for expired requests this often (30 s by default, which would let a slow client stay up to 30 s past its timeout)
        connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(connections.headersTimeout / 10))),
      },
      clientErrorHandler: (error, socket) => this.#clientError(error, socket),
      frameworkErrors: (error, request, reply) => void this.#sendError(error, request, reply), // a bad URL, before any hook ran
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
    });
    const limit = new ConnectionLimit(this.app.server, connections.maxConnections, (reason) => this.metrics.connectionsClosed.inc({ reason }));
    const ctx: ServerContext = { models: this.models, metrics: this.metrics, limits, shutdown: this.#shutdown.signal, version };
    this.app.removeContentTypeParser(["application/json", "text/plain"]); // bodies are JSON only: anything else is 415
    this.app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    this.app.decorateRequest("actorlm", null as unknown as RequestRecord);
    this.app.addHook("onRequest", async (request, reply) => {
      this.#watch(request, reply, limit);
      if (this.#lifecycle.refusing) {
        reply.header("connection", "close");
        if (!LIFECYCLE_PATHS.has(pathOf(request.url))) throw new InferenceError("NOT_READY", "the server is shutting down");
      }
      const read = request.method === "GET" || request.method === "HEAD"; // HEAD is GET without the body
      if (auth !== undefined && !(read && PUBLIC_PATHS.has(pathOf(request.url)))) auth.check(request.headers.authorization);
    });
    this.app.setErrorHandler((error, request, reply) => this.#sendError(error, request, reply));
    this.app.setNotFoundHandler((request, reply) =>
      this.#sendError(new ApiError("ROUTE_NOT_FOUND", `no route ${request.method} ${pathOf(request.url)}`), request, reply),
    );
    this.app.get("/metrics", async (_request, reply) => reply.type(this.metrics.contentType).send(await this.metrics.text()));
    healthRoutes(this.app, this.models, this.#lifecycle);
    openAiRoutes(this.app, ctx);
    tgiRoutes(this.app, ctx);
    playgroundRoutes(this.app);
  }

  /** The URL it listens on (after {@link listen}). */
  get url(): string | undefined {
    return this.#url;
  }

  /** Starts listening (models may still be loading: they answer 503 until ready). Resolves with the base URL. */
  async listen(): Promise<string> {
    const host = this.#options.host ?? "127.0.0.1";
    await this.app.listen({ host, port: this.#options.port ?? 8080 });
    const address = this.app.server.address();
    const port = typeof address === "object" && address !== null ? address.port : this.#options.port;
    this.#url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    return this.#url;
  }

  /** Loads every model, one after the other (MODEL_LOAD / VALIDATION from the first that fails). */
  async loadModels(): Promise<void> {
    for (const model of this.models.list()) await model.start();
  }

  /** listen() then loadModels(); resolves with the base URL once every model is ready. */
  async start(): Promise<string> {
    const url = await this.listen();
    await this.loadModels();
    return url;
  }

  /**
   * Graceful shutdown: turns /health to 503 at once; after the drainDelay option (served normally meanwhile),
   * answers every new request 503 with Retry-After and Connection: close (/health and /livez still answer); lets the
   * requests that arrived before — running or queued — finish for `graceMs` (default: the shutdownGraceMs option),
   * then cancels what still runs (a stream gets an error event; a connection still open 2 s later is closed); then
   * stops listening, closes the connections and terminates the model workers. Idempotent.
   */
  close(graceMs = this.#options.shutdownGraceMs ?? 10_000): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  /** serving, draining (/health 503, still serving) or refusing (new requests 503): see {@link close}. */
  get phase(): Phase {
    return this.#lifecycle.phase;
  }

  /** Same as {@link close} with the default grace period. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Cancels every in-flight generation now, and ends a drain delay (e.g. on a second Ctrl-C during shutdown). */
  cancelInFlight(): void {
    this.#lifecycle.hurry();
    if (!this.#shutdown.signal.aborted) this.#shutdown.abort(new InferenceError("NOT_READY", "the server is shutting down"));
  }

  async #close(graceMs: number): Promise<void> {
    await this.#lifecycle.drain(this.#options.drainDelay ?? 0);
    // what arrived before refusing began; what arrives later is answered 503 at once and waited for below
    const admitted = [...this.#inflight];
    const cancel = setTimeout(() => this.cancelInFlight(), graceMs);
    // a client that stopped reading keeps its response open even after its generation ended: cut it off
    const force = setTimeout(() => this.app.server.closeAllConnections(), graceMs + FORCE_CLOSE_MS);
    try {
      await Promise.all(admitted);
    } finally {
      clearTimeout(cancel);
      clearTimeout(force);
    }
    const stopped = this.app.close();
    this.app.server.closeAllConnections();
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
    await stopped;
    await Promise.all(this.models.list().map((m) => m.close()));
  }

  /** Re-emits a model's events and counts its restarts. */
  #follow(model: ServedModel): void {
    model.on("state", (change) => this.emit("state", model.name, change));
    model.on("progress", (p) => this.emit("progress", model.name, p));
    model.on("restarting", (attempt, delay) => this.emit("restarting", model.name, attempt, delay));
    model.on("restarted", (attempt, error) => {
      if (error === undefined) this.metrics.restarts.inc({ model: model.name });
      this.emit("restarted", model.name, attempt, error);
    });
  }

  /**
   * Gives a request its record and follows it to its end: when its response closed, or its connection did first (a
   * pipelined request queued behind another), an unsent response aborts `gone` (its generation is cancelled); once
   * the route's work ended too, the request is recorded (metrics, `request` event).
   */
  #watch(request: FastifyRequest, reply: FastifyReply, limit: ConnectionLimit): void {
    const gone = new AbortController();
    let closed!: () => void;
    request.actorlm = {
      receivedAt: performance.now(), time: new Date(), model: undefined, outcome: undefined, status: undefined,
      promptTokens: undefined, completionTokens: undefined, pending: undefined,
      gone: gone.signal, closed: new Promise<void>((resolve) => (closed = resolve)),
    };
    const socket = request.raw.socket;
    const reading = { raw: request.raw, record: request.actorlm };
    this.#reading.set(socket, reading);
    limit.begin(socket);
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.#inflight.add(finished);
    whenClosed(request.raw, reply.raw, (abandoned) => {
      if (abandoned) gone.abort(new InferenceError("CANCELLED", "the client disconnected"));
      limit.end(socket);
      if (this.#reading.get(socket) === reading) this.#reading.delete(socket);
      closed();
      void Promise.resolve(request.actorlm.pending).then(() => {
        const record = request.actorlm;
        const status = record.status ?? reply.raw.statusCode;
        const outcome = record.outcome ?? (abandoned ? "cancelled" : outcomeOfStatus(status));
        const route = request.routeOptions.url ?? "unmatched";
        this.metrics.requests.inc({ route, model: record.model ?? "", outcome });
        const log: RequestLog = {
          time: record.time,
          method: request.method,
          path: pathOf(request.url),
          status,
          outcome,
          model: record.model,
          promptTokens: record.promptTokens,
          completionTokens: record.completionTokens,
          ms: performance.now() - record.receivedAt,
        };
        this.#inflight.delete(finished);
        done();
        this.emit("request", log);
      });
    });
  }

  /**
   * A request Node refused before fastify saw it, or stopped reading (headers or body too slow, headers too large,
   * not HTTP): answered in the error shape of the path it names, when that is known, and the connection closed.
   */
  #clientError(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const api = clientErrorOf(error);
    const reading = this.#reading.get(socket);
    const request = reading !== undefined && !reading.raw.complete ? reading : undefined; // its body was cut short
    this.metrics.connectionsClosed.inc({ reason: api.code === "REQUEST_TIMEOUT" ? "timeout" : api.code === "HEADERS_TOO_LARGE" ? "headers_too_large" : "malformed" });
    if (request !== undefined) {
      request.record.status = api.status;
      request.record.outcome = outcomeOfStatus(api.status);
    }
    const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage; // Node's response being written on it
    if (socket.writable && inFlight?.headersSent !== true) {
      const path = request !== undefined ? pathOf(request.raw.url ?? "") : requestPathOf(error.rawPacket);
      const body = JSON.stringify(errorBodyFor(path)(api));
      socket.write(
        `HTTP/1.1 ${api.status} ${STATUS_CODES[api.status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroySoon(); // once the answer is written, whatever the client does
  }

  #sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    const fields = (request.routeOptions?.config as { fields?: FieldNames } | undefined)?.fields ?? {};
    const api = ApiError.from(error, fields);
    if (reply.sent || reply.raw.headersSent || request.actorlm?.gone.aborted === true) return undefined;
    reply.code(api.status);
    if (api.status === 429 || api.status === 503) reply.header("retry-after", "1");
    if (api.status === 401) reply.header("www-authenticate", 'Bearer realm="actorlm"');
    return reply.send(errorBodyFor(pathOf(request.url))(api));
  }
}

/** The connection settings, defaults filled in; VALIDATION naming a bad one. */
function connectionLimits(options: ServerOptions): ConnectionLimits {
  const get = (name: keyof ConnectionLimits) => positive(name, options[name] ?? CONNECTION_DEFAULTS[name]);
  const limits = { headersTimeout: get("headersTimeout"), requestTimeout: get("requestTimeout"), keepAliveTimeout: get("keepAliveTimeout"), maxConnections: get("maxConnections") };
  if (limits.headersTimeout > limits.requestTimeout) {
    throw new InferenceError("VALIDATION", `headersTimeout: ${limits.headersTimeout} ms exceeds requestTimeout (${limits.requestTimeout} ms), which includes the headers`);
  }
  return limits;
}

/** The API error a client error of Node's HTTP parser stands for. */
function clientErrorOf(error: Error & { code?: string }): ApiError {
  switch (error.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new ApiError("REQUEST_TIMEOUT", "request: not received in time (headers or body too slow); the connection is closed", null, { cause: error });
    case "HPE_HEADER_OVERFLOW":
      return new ApiError("HEADERS_TOO_LARGE", "headers: larger than the server accepts", "headers", { cause: error });
    default:
      return new ApiError("MALFORMED_REQUEST", `request: not valid HTTP (${error.code ?? error.message})`, null, { cause: error });
  }
}

/** The path in the request line at the start of `raw` ("" when there is none). */
function requestPathOf(raw: unknown): string {
  if (!Buffer.isBuffer(raw)) return "";
  const line = /^[A-Z]+ (\S+) HTTP\//.exec(raw.subarray(0, 2048).toString("latin1"));
  return line === null ? "" : pathOf(line[1]);
}

/** Creates a server (not listening yet): see {@link ActorlmServer}. */
export function createServer(options: ServerOptions): ActorlmServer {
  return new ActorlmServer(options);
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}
