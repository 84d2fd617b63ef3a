// `actorlm serve`: the HTTP server. Checks every flag before it binds (a bad one exits 2), prints its URL, shows a
// progress bar per model while loading (a model that cannot load leaves the server up but unready, saying why on
// stderr and in /health), logs one line per request, restarts crashed model workers, and on SIGINT/SIGTERM drains:
// /health 503 at once, new requests refused after the drain delay, in-flight ones finished within the grace period
// (a second signal cancels them), then exits 0.
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { InferenceError } from "@actorlm/runtime";
import { Command, InvalidArgumentError } from "commander";
import type { RequestLog } from "../context.js";
import { modelNameOf, type ModelSource } from "../models.js";
import { CONNECTION_DEFAULTS, createServer } from "../server.js";
import { fetchIfMissing } from "./download.js";
import { addDownloadOption, addEngineOptions, engineArgs, type EngineFlags } from "./model-options.js";
import { integer, port } from "./options.js";
import { showLoadProgress } from "./progress.js";
import { requireModelDir } from "./start-model.js";

interface ServeFlags extends EngineFlags {
  model?: ModelSource[];
  download?: boolean;
  host: string;
  port: number;
  apiKey?: string;
  maxConcurrent?: number;
  maxQueue?: number;
  bodyLimit: number;
  maxPromptChars: number;
  maxStopSequences: number;
  shutdownGrace: number;
  drainDelay: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
}

/**
 * Parses `--model [NAME=]DIR` (repeatable; DIR may be a Hugging Face id): a name before `=` is what requests use;
 * otherwise the folder's name (the id's name).
 */
export function modelSpec(value: string, previous: ModelSource[] = []): ModelSource[] {
  const named = /^([A-Za-z0-9][A-Za-z0-9._:-]*)=(.+)$/.exec(value);
  const source = named === null ? { name: modelNameOf(value), dir: value } : { name: named[1], dir: named[2] };
  if (source.dir.trim() === "") throw new InvalidArgumentError("expected a model directory");
  return [...previous, source];
}

/** The `serve` command. */
export function serveCommand(): Command {
  const command = new Command("serve")
    .description("serve models over HTTP (OpenAI and TGI APIs, /metrics, a web playground at /)")
    .option("--model <[name=]dir|id>", "model directory, GGUF file or Hugging Face id (org/name:Q4_0 for a cached GGUF file), repeatable; requests pick one by name (default: the embedded model)", modelSpec)
    .option("--host <address>", "interface to bind", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", port, 8080)
    .option("--api-key <key>", "require Authorization: Bearer <key> (or set ACTORLM_API_KEY)")
    .option("--max-concurrent <n>", "generations in each model's batch at once (= --max-concurrent-requests; default 16)", integer)
    .option("--max-queue <n>", "requests waiting per model before 429 (= --max-queued-requests; default 64)", integer)
    .option("--body-limit <bytes>", "largest request body before 413", integer, 1024 * 1024)
    .option("--max-prompt-chars <n>", "longest prompt in characters", integer, 65_536)
    .option("--max-stop-sequences <n>", "most stop strings per request", integer, 4)
    .option("--shutdown-grace <ms>", "how long in-flight requests may finish once new ones are refused (after SIGINT/SIGTERM and the drain delay)", integer, 10_000)
    .option("--drain-delay <ms>", "after SIGINT/SIGTERM, how long to keep serving with /health at 503 before refusing new requests (for load balancers that poll /health)", integer, 0)
    .option("--headers-timeout <ms>", "how long a client may take to send a request's headers (then 408, closed)", integer, CONNECTION_DEFAULTS.headersTimeout)
    .option("--request-timeout <ms>", "how long a client may take to send a whole request, body included (then 408, closed)", integer, CONNECTION_DEFAULTS.requestTimeout)
    .option("--keep-alive-timeout <ms>", "how long an idle keep-alive connection stays open", integer, CONNECTION_DEFAULTS.keepAliveTimeout)
    .option("--max-connections <n>", "most open connections (more are closed at once)", integer, CONNECTION_DEFAULTS.maxConnections);
  addEngineOptions(addDownloadOption(command));
  return command.action((flags: ServeFlags) => runServe(flags));
}

/** One request log line. */
export function formatRequest(log: RequestLog): string {
  const tokens = log.completionTokens === undefined ? "" : ` tokens=${log.promptTokens ?? 0}+${log.completionTokens}`;
  const model = log.model === undefined ? "" : ` model=${log.model}`;
  return `${log.time.toISOString()} ${log.method} ${log.path} ${log.status} ${log.outcome}${model}${tokens} ${Math.round(log.ms)}ms`;
}

/** One setting given by either of two flags (serve's own name or the engine's): VALIDATION when they disagree. */
function eitherFlag(a: string, aValue: number | undefined, b: string, bValue: number | undefined): number | undefined {
  if (aValue !== undefined && bValue !== undefined && aValue !== bValue) {
    throw new InferenceError("VALIDATION", `${a} ${aValue} and ${b} ${bValue} name the same setting: give one of them`, { field: a });
  }
  return aValue ?? bValue;
}

async function runServe(flags: ServeFlags): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const { maxConcurrentRequests, maxQueuedRequests, ...engine } = engineArgs(flags);
  const models = flags.model ?? [{ name: modelNameOf(EMBEDDED_MODEL_DIR), dir: EMBEDDED_MODEL_DIR }];
  if (flags.download) for (const model of models) await fetchIfMissing(model.dir);
  for (const model of models) requireModelDir(model.dir);
  const server = createServer({
    models,
    engine,
    host: flags.host,
    port: flags.port,
    apiKey: flags.apiKey ?? (process.env.ACTORLM_API_KEY || undefined),
    maxConcurrent: eitherFlag("--max-concurrent", flags.maxConcurrent, "--max-concurrent-requests", maxConcurrentRequests),
    maxQueued: eitherFlag("--max-queue", flags.maxQueue, "--max-queued-requests", maxQueuedRequests),
    bodyLimit: flags.bodyLimit,
    maxPromptChars: flags.maxPromptChars,
    maxStopSequences: flags.maxStopSequences,
    shutdownGraceMs: flags.shutdownGrace,
    drainDelay: flags.drainDelay,
    headersTimeout: flags.headersTimeout,
    requestTimeout: flags.requestTimeout,
    keepAliveTimeout: flags.keepAliveTimeout,
    maxConnections: flags.maxConnections,
  });
  server.on("request", (log) => say(formatRequest(log)));
  server.on("restarting", (model, attempt, delay) => {
    const why = server.models.get(model).host.error?.message ?? "worker failed";
    say(`model ${model}: ${why}; restart ${attempt} in ${delay} ms`);
  });
  server.on("restarted", (model, attempt, error) =>
    say(error === undefined ? `model ${model}: serving again (restart ${attempt})` : `model ${model}: restart ${attempt} failed: ${(error as Error).message}`),
  );

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      const drain = flags.drainDelay > 0 ? `/health answers 503, new requests are refused in ${flags.drainDelay} ms, then ` : "";
      say(`${signal}: shutting down; ${drain}in-flight requests have ${flags.shutdownGrace} ms (send it again to cancel them)`);
      void server.close().then(
        () => {
          say("stopped");
          process.exit(0);
        },
        (error: unknown) => {
          process.stderr.write(`actorlm: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
    } else {
      server.cancelInFlight();
    }
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);

  const url = await server.listen();
  say(`actorlm ${server.models.list().length === 1 ? "serving" : "serving models"} at ${url}  (playground: ${url}/, OpenAI: ${url}/v1, metrics: ${url}/metrics)`);
  for (const model of server.models.list()) {
    const bar = showLoadProgress(model, `loading ${model.name}`);
    const t0 = Date.now();
    try {
      await model.start();
    } catch (error) {
      bar.stop();
      if (server.phase !== "serving") return; // shut down while it loaded
      // the replica stays up, unready: /health says why (503), /livez 200, until someone fixes the model and restarts it
      const why = model.loadError === undefined ? String(error) : `${model.loadError.code}: ${model.loadError.message}`;
      process.stderr.write(`actorlm: model ${model.name} failed to load: ${why}; /health answers 503 (not ready) until it is fixed and the server restarted\n`);
      continue;
    }
    bar.stop();
    if (model.info.fallback !== null) say(`model ${model.name}: ${model.info.fallback}`);
    say(`model ${model.name} ready (${model.dir}, ${Date.now() - t0} ms)`);
  }
}
