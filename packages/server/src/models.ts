import { existsSync } from "node:fs";
import { basename } from "node:path";
import { EventEmitter } from "eventemitter3";
import {
  BackendState,
  InferenceBuilder,
  InferenceError,
  ModelHost,
  type Inference,
  type Job,
  type LoadProgress,
  type ModelClass,
  type StateChange,
} from "@actorlm/runtime";
import {
  ChatTemplate, encodeOffThread, parseModelId, tokenizedStreamingHandler,
  type LlmEngine, type LlmEngineArgs, type ModelInfo, type TokenizedRequest, type TokenOutput,
} from "@actorlm/llm";
import { ApiError } from "./http-errors.js";
import { Supervisor, type RestartPolicy } from "./supervisor.js";

/**
 * Engine settings shared by every served model (the CLI's engine flags); the server sets the request limits
 * (`maxConcurrent`, `maxQueued`) and the stop limit itself.
 */
export type EngineOptions = Omit<LlmEngineArgs, "model" | "maxSequences" | "maxStopSequences" | "maxConcurrentRequests" | "maxQueuedRequests">;

/** A model to serve: the name requests use, and its directory or Hugging Face id (resolved from the local cache). */
export interface ModelSource {
  name: string;
  dir: string;
}

/** Per-model serving settings. */
export interface ServedModelOptions {
  engine: EngineOptions;
  /** Generations in the model's batch at once (its maxConcurrentRequests). */
  maxActive: number;
  /** Requests that may wait to join the batch (its maxQueuedRequests); one more is refused with OVERLOADED. */
  maxQueued: number;
  /** Most stop strings a request may give. */
  maxStopSequences: number;
  restart: RestartPolicy;
  /** The model class hosted in the worker (LlmEngine; tests wrap it). */
  modelClass: ModelClass<LlmEngine, LlmEngineArgs>;
}

/** Events of a served model. */
export interface ServedModelEvents {
  state: [change: StateChange];
  progress: [progress: LoadProgress];
  /** A crashed worker will be restarted in `delayMs` (the `attempt`-th restart in a row). */
  restarting: [attempt: number, delayMs: number];
  /** A restart finished (`error` when the fresh worker failed to load). */
  restarted: [attempt: number, error?: unknown];
}

/** Derives the default name of a model from its directory (its last path segment), or of a Hugging Face id from its name. */
export function modelNameOf(dir: string): string {
  const id = existsSync(dir) ? null : parseModelId(dir);
  if (id !== null) return id.repo.split("/")[1];
  return basename(dir.replace(/[\\/]+$/, "")) || dir;
}

/** What {@link ServedModel.requests} reports of a model's engine. */
export interface EngineCounts {
  /** Generations in the batch, and waiting to join it. */
  active: number;
  queued: number;
  /** Prompt tokens admitted since the worker started, and of them those found in the prefix cache. */
  promptTokens: number;
  cachedPromptTokens: number;
  /** cachedPromptTokens / promptTokens (0 before any prompt). */
  prefixHitRate: number;
  /** Cached KV blocks evicted to make room since the worker started. */
  evictions: number;
  /** Cached KV blocks nobody references now (kept for later hits). */
  cachedBlocks: number;
}

const NO_COUNTS: EngineCounts = { active: 0, queued: 0, promptTokens: 0, cachedPromptTokens: 0, prefixHitRate: 0, evictions: 0, cachedBlocks: 0 };

/** One served model. */
export class ServedModel extends EventEmitter<ServedModelEvents> {
  readonly name: string;
  /** The model as given: a directory or a Hugging Face id (`info.model` is the directory it resolved to). */
  readonly dir: string;
  /** The model worker. */
  readonly host: ModelHost<LlmEngine>;
  /** Generations in the batch at once, and waiting to join it, at most (the engine enforces them). */
  readonly limits: { readonly maxActive: number; readonly maxQueued: number };
  #inference: Inference<TokenizedRequest, TokenOutput, never> | undefined;
  #info: ModelInfo | undefined;
  #template: ChatTemplate | undefined;
  #supervisor: Supervisor | undefined;
  readonly #options: ServedModelOptions;
  #restarts = 0;
  #loadedAt: Date | undefined;
  #loadError: InferenceError | undefined;

  /** Creates the host (not started); VALIDATION naming the setting when the engine would refuse its arguments. */
  constructor(source: ModelSource, options: ServedModelOptions) {
    super();
    this.name = source.name;
    this.dir = source.dir;
    this.#options = options;
    this.limits = { maxActive: options.maxActive, maxQueued: options.maxQueued };
    const args: LlmEngineArgs = {
      model: source.dir,
      ...definedOnly(options.engine),
      maxConcurrentRequests: options.maxActive,
      maxQueuedRequests: options.maxQueued,
      maxStopSequences: options.maxStopSequences,
    };
    options.modelClass.validateArgs?.(args);
    this.host = ModelHost.create(options.modelClass, args, { name: `actorlm:${source.name}` });
    this.host.on("state", (change) => this.emit("state", change)).on("progress", (p) => this.emit("progress", p));
  }

  /**
   * Loads the model, builds its inference, reads its info and chat template, and starts supervising it. A model that
   * fails to load keeps its error ({@link loadError}) and stays unready.
   */
  async start(): Promise<void> {
    try {
      await this.host.start();
    } catch (error) {
      this.#loadError = InferenceError.is(error) ? error : new InferenceError("MODEL_LOAD", String(error), { cause: error });
      throw error;
    }
    this.#loadError = undefined;
    this.#inference = await new InferenceBuilder().withModel(this.host).build(tokenizedStreamingHandler);
    this.#info = await this.host.call("info");
    this.#template = await chatTemplateOf(this.host);
    await encodeOffThread(this.#info.model, ["warm up"]); // loads the tokenizer on a pool thread now, not at the first request
    this.#loadedAt = new Date();
    this.#supervisor = new Supervisor(this.host as ModelHost<object>, this.#options.restart, {
      scheduled: (attempt, delay) => {
        this.emit("restarting", attempt, delay);
      },
      restarted: (attempt, error) => {
        if (error === undefined) this.#restarts++;
        this.emit("restarted", attempt, error);
      },
    });
  }

  /** The backend state now. */
  get state(): BackendState {
    return this.host.state;
  }

  /** When the model first became Ready. */
  get loadedAt(): Date | undefined {
    return this.#loadedAt;
  }

  /** Restarts that brought the worker back so far. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Static facts about the model (after {@link start}). */
  get info(): ModelInfo {
    if (this.#info === undefined) throw new InferenceError("NOT_READY", `model ${this.name} is not loaded yet`);
    return this.#info;
  }

  /** The chat template (after {@link start}). */
  get template(): ChatTemplate {
    if (this.#template === undefined) throw new InferenceError("NOT_READY", `model ${this.name} is not loaded yet`);
    return this.#template;
  }

  /** Why the model failed to load, when its last start() did. */
  get loadError(): InferenceError | undefined {
    return this.#loadError;
  }

  /**
   * Why the model does not serve now, in words (`kjv is loading`, `kjv failed to load: MODEL_LOAD: …`, `kjv is
   * restarting after its worker failed: …`); undefined when it is ready.
   */
  notReadyReason(): string | undefined {
    const state = this.host.state;
    if (state === BackendState.Ready) return undefined;
    if (this.#loadError !== undefined) return `${this.name} failed to load: ${this.#loadError.code}: ${this.#loadError.message}`;
    if (state === BackendState.Error || (state === BackendState.Loading && this.#supervisor !== undefined)) {
      const cause = this.host.error;
      return `${this.name} is restarting after its worker failed${cause === undefined ? "" : `: ${cause.message}`}`;
    }
    return `${this.name} is ${state}`;
  }

  /** Throws NOT_READY naming the model and its state unless it is Ready to serve. */
  requireReady(): void {
    if (this.#inference === undefined || this.host.state !== BackendState.Ready) {
      throw new InferenceError("NOT_READY", `model ${this.name} is not ready (state ${this.host.state}); retry shortly`);
    }
  }

  /**
   * Generations in the model's batch (`active`) and waiting to join it (`queued`), as the engine counts them now;
   * zeros while the model is not ready.
   */
  async requests(): Promise<{ active: number; queued: number }> {
    const { active, queued } = await this.counts();
    return { active, queued };
  }

  /** {@link ServedModel.requests}' counts and the prefix cache's counts since the worker started, in one call to the engine. */
  async counts(): Promise<EngineCounts> {
    if (this.host.state !== BackendState.Ready) return { ...NO_COUNTS };
    const stats = await this.host.call("stats").catch(() => undefined);
    if (stats === undefined) return { ...NO_COUNTS };
    const { running: active, queued, promptTokens, cachedPromptTokens, prefixHitRate, evictions, cachedBlocks } = stats;
    return { active, queued, promptTokens, cachedPromptTokens, prefixHitRate, evictions, cachedBlocks };
  }

  /** Starts a streaming generation job for a tokenized request (cancelled when `signal` aborts). */
  spawn(request: TokenizedRequest, signal: AbortSignal): Job<TokenOutput> {
    this.requireReady();
    return this.#inference!.infer(request).withSignal(signal).spawn();
  }

  /** Stops supervising, cancels its jobs and terminates the worker. */
  async close(): Promise<void> {
    this.#supervisor?.stop();
    await this.#inference?.close();
    await this.host.close();
  }
}

/** The chat template of the model `host` runs (from its directory; knowing whether its tokenizer prepends bos itself). */
export async function chatTemplateOf(host: ModelHost<LlmEngine>): Promise<ChatTemplate> {
  const { bosId, model: dir } = await host.call("info");
  const probe = await host.call("encode", "a");
  return ChatTemplate.fromModelDir(dir, bosId !== null && probe[0] === bosId);
}

/** The served models by name; the first is the default for requests that name none. */
export class ModelRegistry {
  readonly #models = new Map<string, ServedModel>();

  /** One ServedModel per source; VALIDATION when two share a name or there are none. */
  constructor(sources: readonly ModelSource[], options: ServedModelOptions) {
    if (sources.length === 0) throw new InferenceError("VALIDATION", "models: give at least one model");
    for (const source of sources) {
      if (this.#models.has(source.name)) {
        throw new InferenceError("VALIDATION", `models: two models are named "${source.name}"; name them apart (--model NAME=DIR)`);
      }
      this.#models.set(source.name, new ServedModel(source, options));
    }
  }

  /** Every model, in the order given. */
  list(): ServedModel[] {
    return [...this.#models.values()];
  }

  /** The model named `name` (the default one when `name` is absent); MODEL_NOT_FOUND naming it otherwise. */
  get(name: string | null | undefined, param = "model"): ServedModel {
    if (name === undefined || name === null) return this.list()[0];
    const model = this.#models.get(name);
    if (model === undefined) {
      const known = [...this.#models.keys()].map((n) => `"${n}"`).join(", ");
      throw new ApiError("MODEL_NOT_FOUND", `${param}: the model "${name}" does not exist (served: ${known})`, param);
    }
    return model;
  }

  /** True when every model is Ready. */
  get ready(): boolean {
    return this.list().every((m) => m.state === BackendState.Ready);
  }
}

/** `o` without its undefined values. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
