// What the routes share: the models, the metrics, limits, the shutdown signal, the server's events, and the
// per-request record every route fills in (model, outcome, token counts) for the log line and the metrics.
import type { EventEmitter } from "eventemitter3";
import type { FastifyRequest } from "fastify";
import { InferenceError } from "@actorlm/runtime";
import { ApiError } from "./http-errors.js";
import { outcomeOfStatus, type Outcome, type ServerMetrics } from "./metrics.js";
import type { ModelRegistry, ServedModel } from "./models.js";
import type { SchemaLimits } from "./schemas.js";

/** One finished request, as logged (one line per request) and counted. */
export interface RequestLog {
  /** When it arrived. */
  time: Date;
  method: string;
  /** The path (query string left out). */
  path: string;
  status: number;
  outcome: Outcome;
  /** The model that served it, if it got that far. */
  model: string | undefined;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** Arrival to the end of the response (and of its generation). */
  ms: number;
}

/** Events of a server. */
export interface ServerEvents {
  /** A request finished: its response is closed and its generation (if any) ended, KV slot freed. */
  request: [log: RequestLog];
}

/** What a route records about its request. */
export interface RequestRecord {
  /** `performance.now()` at arrival. */
  receivedAt: number;
  time: Date;
  model: string | undefined;
  outcome: Outcome | undefined;
  /** The status the client was answered with when the route's reply never was (a request timeout's 408). */
  status: number | undefined;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** Settles when the route's work (its generation) is over; the request is recorded after it. */
  pending: Promise<void> | undefined;
  /** Aborts (CANCELLED) when the client went away before its response was sent: the response or its connection closed. */
  gone: AbortSignal;
  /** Resolves once the response closed or its connection did. */
  closed: Promise<void>;
}

declare module "fastify" {
  interface FastifyRequest {
    /** actorlm's record of this request. */
    actorlm: RequestRecord;
  }
}

/** Everything a route needs. */
export interface ServerContext {
  models: ModelRegistry;
  metrics: ServerMetrics;
  limits: SchemaLimits;
  /** Aborts (reason NOT_READY) when in-flight generations must end because the server shuts down. */
  shutdown: AbortSignal;
  /** The server's version string (reported by /info). */
  version: string;
}

/**
 * A signal for this request's generation: it aborts when the client goes away before the response was sent
 * (CANCELLED; a pipelined request whose connection closed included) or when the server's shutdown ends in-flight
 * work (that signal's reason).
 */
export function requestSignal(request: FastifyRequest, shutdown: AbortSignal): AbortSignal {
  const { gone, closed } = request.actorlm;
  const controller = new AbortController();
  const onShutdown = () => controller.abort(shutdown.reason);
  const onGone = () => controller.abort(gone.reason);
  if (gone.aborted) onGone();
  else if (shutdown.aborted) onShutdown();
  else {
    shutdown.addEventListener("abort", onShutdown, { once: true });
    gone.addEventListener("abort", onGone, { once: true });
    void closed.then(() => shutdown.removeEventListener("abort", onShutdown)); // the server's signal outlives every request
  }
  return controller.signal;
}

/** Marks `work` as this request's pending work (the request is recorded once it settles) and returns it. */
export function track<T>(request: FastifyRequest, work: Promise<T>): Promise<T> {
  request.actorlm.pending = work.then(
    () => undefined,
    () => undefined,
  );
  return work;
}

/** The outcome an error stands for. */
export function outcomeOfError(error: unknown): Outcome {
  return outcomeOfStatus(ApiError.from(error).status);
}

/** The error to report inside a started stream: the shutdown's reason rather than the CANCELLED it caused. */
export function inStream(error: unknown, shutdown: AbortSignal): unknown {
  if (InferenceError.is(error, "CANCELLED") && shutdown.aborted) return shutdown.reason;
  return error;
}

/**
 * The model a generation request names, by TGI's rule: absent (or null) picks the first model; when only one model
 * is served it answers whatever the name (`"tgi"`, an endpoint URL, another server's model name), as TGI does; with
 * several, `"tgi"` picks the first and any other name must be a served model's (MODEL_NOT_FOUND naming `model`).
 */
export function modelFor(models: ModelRegistry, name: string | null | undefined): ServedModel {
  const all = models.list();
  if (name === undefined || name === null || name === "tgi" || all.length === 1) return all[0];
  return models.get(name);
}
