// Prometheus metrics of one server (its own prom-client registry, so several servers can live in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EngineCounts, ServedModel } from "./models.js";

/** How a request ended, as counted by `actorlm_requests_total`. */
export type Outcome =
  | "success"
  | "cancelled"
  | "validation"
  | "overloaded"
  | "not_ready"
  | "failed"
  | "unauthorized"
  | "not_found"
  | "too_large"
  | "timeout"
  | "bad_request"
  | "error";

/** The outcome an HTTP status stands for (when nothing more precise was recorded). */
export function outcomeOfStatus(status: number): Outcome {
  if (status < 400) return "success";
  switch (status) {
    case 401:
      return "unauthorized";
    case 404:
      return "not_found";
    case 408:
      return "timeout";
    case 413:
    case 431:
      return "too_large";
    case 422:
      return "validation";
    case 429:
      return "overloaded";
    case 499:
      return "cancelled";
    case 503:
      return "not_ready";
    case 424:
      return "failed";
  }
  return status < 500 ? "bad_request" : "error";
}

/** The server's metrics, exposed at GET /metrics. */
export class ServerMetrics {
  readonly registry = new Registry();
  /** Requests by route, model and outcome. */
  readonly requests: Counter<"route" | "model" | "outcome">;
  /** Tokens generated, per model. */
  readonly tokens: Counter<"model">;
  /** Request arrival to first generated token. */
  readonly timeToFirstToken: Histogram<"model">;
  /** Time between consecutive tokens of one generation. */
  readonly interToken: Histogram<"model">;
  /** Worker restarts after a crash. */
  readonly restarts: Counter<"model">;
  /** Connections closed by the server before a request on them was answered by a route (by reason). */
  readonly connectionsClosed: Counter<"reason">;

  /** Registers every metric; the gauges read `models()` when scraped. */
  constructor(models: () => readonly ServedModel[]) {
    const registers = [this.registry];
    this.requests = new Counter({ name: "actorlm_requests_total", help: "HTTP requests by route, model and outcome", labelNames: ["route", "model", "outcome"], registers });
    this.tokens = new Counter({ name: "actorlm_generated_tokens_total", help: "Tokens generated", labelNames: ["model"], registers });
    this.timeToFirstToken = new Histogram({
      name: "actorlm_time_to_first_token_seconds",
      help: "Time from a request's arrival to its first generated token",
      labelNames: ["model"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.interToken = new Histogram({
      name: "actorlm_inter_token_latency_seconds",
      help: "Time between consecutive generated tokens of one request",
      labelNames: ["model"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.restarts = new Counter({ name: "actorlm_model_restarts_total", help: "Model worker restarts after a crash", labelNames: ["model"], registers });
    this.connectionsClosed = new Counter({
      name: "actorlm_connections_closed_total",
      help: "Connections the server closed on a client: timeout (headers or body too slow), evicted (idle, to make room under maxConnections), limit (new, every connection busy), headers_too_large, malformed",
      labelNames: ["reason"],
      registers,
    });
    // Both read the engine's own counts (one `stats` call per model per scrape, shared by the two gauges). A request
    // the engine holds but has not stepped into its batch yet is queued only when no place in the batch is left for
    // it: that is the count maxQueued bounds (the engine refuses when running + waiting reach both limits together).
    let counts: Promise<Map<string, EngineCounts>> | undefined;
    const current = () => {
      counts ??= Promise.all(
        models().map(async (m) => {
          const c = await m.counts();
          return [m.name, { ...c, queued: Math.max(0, c.queued - Math.max(0, m.limits.maxActive - c.active)) }] as const;
        }),
      ).then((pairs) => new Map(pairs));
      const pending = counts;
      void pending.finally(() => {
        if (counts === pending) counts = undefined;
      });
      return pending;
    };
    new Gauge({
      name: "actorlm_queue_size",
      help: "Requests waiting for a place in their model's batch (at most maxQueued)",
      labelNames: ["model"],
      registers,
      async collect() {
        for (const [model, c] of await current()) this.set({ model }, c.queued);
      },
    });
    new Gauge({
      name: "actorlm_active_sequences",
      help: "Generations in their model's batch (each holds KV blocks in its model worker)",
      labelNames: ["model"],
      registers,
      async collect() {
        for (const [model, c] of await current()) this.set({ model }, c.active);
      },
    });
    // The prefix cache: engine counts since the model worker started (gauges, since a restarted worker starts over).
    const prefixGauges: [string, string, (c: EngineCounts) => number][] = [
      ["actorlm_prefix_cache_hit_rate", "Prompt tokens found in the prefix cache over prompt tokens admitted, since the model worker started", (c) => c.prefixHitRate],
      ["actorlm_prefix_cache_prompt_tokens", "Prompt tokens admitted to the batch since the model worker started", (c) => c.promptTokens],
      ["actorlm_prefix_cache_cached_tokens", "Prompt tokens found in the prefix cache (not prefilled again) since the model worker started", (c) => c.cachedPromptTokens],
      ["actorlm_prefix_cache_evictions", "Cached KV blocks evicted to make room since the model worker started", (c) => c.evictions],
      ["actorlm_prefix_cache_blocks", "Cached KV blocks no request references now (kept for later hits)", (c) => c.cachedBlocks],
    ];
    for (const [name, help, read] of prefixGauges) {
      new Gauge({
        name,
        help,
        labelNames: ["model"],
        registers,
        async collect() {
          for (const [model, c] of await current()) this.set({ model }, read(c));
        },
      });
    }
    new Gauge({
      name: "actorlm_model_ready",
      help: "1 when the model serves requests, 0 while loading or recovering",
      labelNames: ["model"],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.name }, m.state === "ready" ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "actorlm_" });
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
