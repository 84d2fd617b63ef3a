// The OpenAI-compatible routes: POST /v1/completions, POST /v1/chat/completions (both streaming over SSE or not),
// GET /v1/models and GET /v1/models/:id.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DEFAULT_SAMPLING, type ChatMessage, type FinishReason, type NormalizedRequest } from "@actorlm/llm";
import { inStream, modelFor, outcomeOfError, requestSignal, track, type ServerContext } from "../context.js";
import { Generation } from "../generation.js";
import { ApiError, openAiErrorBody, type FieldNames } from "../http-errors.js";
import type { ServedModel } from "../models.js";
import { chatSchema, completionSchema, type ChatBody, type CompletionBody, type OpenAiSampling } from "../schemas.js";
import { SseStream } from "../sse.js";

/** The library's request fields (the heads of the engine's error paths) as /v1/completions names them. */
export const COMPLETION_FIELDS: FieldNames = Object.freeze({
  prompt: "prompt",
  maxTokens: "max_tokens",
  temperature: "temperature",
  topP: "top_p",
  topK: "top_k",
  minP: "min_p",
  repetitionPenalty: "repetition_penalty",
  frequencyPenalty: "frequency_penalty",
  presencePenalty: "presence_penalty",
  seed: "seed",
  stop: "stop",
});

/** The library's request fields as /v1/chat/completions names them (the prompt is the rendered messages). */
export const CHAT_FIELDS: FieldNames = Object.freeze({ ...COMPLETION_FIELDS, prompt: "messages" });

/** The OpenAI `usage` object. */
interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** How one kind of OpenAI response is shaped (completions or chat). */
interface Shape {
  /** Prefix of response ids. */
  idPrefix: string;
  /** The route's names for the library's request fields (errors name them). */
  fields: FieldNames;
  object: string;
  chunkObject: string;
  /** A streamed chunk's choice: text added, or the end (`finish` set, text ""). */
  chunkChoice(text: string, finish: FinishReason | null, first: boolean): object;
  /** The whole answer's choice. */
  choice(text: string, finish: FinishReason): object;
}

const COMPLETION_SHAPE: Shape = {
  idPrefix: "cmpl",
  fields: COMPLETION_FIELDS,
  object: "text_completion",
  chunkObject: "text_completion",
  chunkChoice: (text, finish) => ({ index: 0, text, logprobs: null, finish_reason: finish }),
  choice: (text, finish) => ({ index: 0, text, logprobs: null, finish_reason: finish }),
};

const CHAT_SHAPE: Shape = {
  idPrefix: "chatcmpl",
  fields: CHAT_FIELDS,
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  chunkChoice: (text, finish, first) => ({
    index: 0,
    delta: finish !== null ? {} : first ? { role: "assistant", content: text } : { content: text },
    logprobs: null,
    finish_reason: finish,
  }),
  choice: (text, finish) => ({ index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finish }),
};

/** Registers the OpenAI routes. */
export function openAiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get("/v1/models", async () => ({ object: "list", data: ctx.models.list().map(modelObject) }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => modelObject(ctx.models.get(request.params.id, "id")));

  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: completionSchema(ctx.limits) }, config: { fields: COMPLETION_FIELDS } }, (request, reply) => {
    const body = request.body;
    const model = pick(ctx, request, body.model);
    const prompt = promptOf(body.prompt, ctx.limits.maxPromptChars);
    return track(request, serve(ctx, request, reply, model, normalizedOf(prompt, body, body.max_tokens), COMPLETION_SHAPE, body));
  });

  app.post<{ Body: ChatBody }>("/v1/chat/completions", { schema: { body: chatSchema(ctx.limits) }, config: { fields: CHAT_FIELDS } }, (request, reply) => {
    const body = request.body;
    const model = pick(ctx, request, body.model);
    if (body.max_tokens != null && body.max_completion_tokens != null && body.max_tokens !== body.max_completion_tokens) {
      throw new ApiError("VALIDATION", "max_completion_tokens: differs from max_tokens; give one of them", "max_completion_tokens");
    }
    const format = body.response_format?.type ?? "text";
    if (format !== "text") {
      throw new ApiError("VALIDATION", `response_format.type: ${JSON.stringify(format)} (structured output) is not supported yet; only "text"`, "response_format.type");
    }
    const messages = body.messages.map(messageOf);
    const chars = messages.reduce((n, m) => n + m.content.length, 0);
    if (chars > ctx.limits.maxPromptChars) {
      throw new ApiError("VALIDATION", `messages: ${chars} characters of content exceed the limit of ${ctx.limits.maxPromptChars}`, "messages");
    }
    model.requireReady();
    const prompt = model.template.render(messages);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    return track(request, serve(ctx, request, reply, model, normalizedOf(prompt, body, maxTokens), CHAT_SHAPE, body));
  });
}

/** The model a request names (see {@link modelFor}), recorded on the request. */
function pick(ctx: ServerContext, request: FastifyRequest, name: string | undefined): ServedModel {
  const model = modelFor(ctx.models, name);
  request.actorlm.model = model.name;
  return model;
}

const isTokenId = (value: unknown): value is number => Number.isSafeInteger(value);

/**
 * The prompt of a /v1/completions body: a string, or one of OpenAI's array forms — `[text]`, `[id, …]` or
 * `[[id, …]]` (token ids are used as given, no bos added; the engine checks them against its vocabulary, naming
 * `prompt`). VALIDATION naming `prompt` otherwise (several prompts in one request are not supported).
 */
function promptOf(prompt: CompletionBody["prompt"], maxChars: number): string | number[] {
  if (typeof prompt === "string") return prompt;
  const [first] = prompt;
  if (prompt.every(isTokenId)) return prompt;
  if (prompt.length === 1 && typeof first === "string") {
    if (first.length === 0) throw new ApiError("VALIDATION", "prompt[0]: must not be empty", "prompt[0]");
    if (first.length > maxChars) throw new ApiError("VALIDATION", `prompt[0]: must have at most ${maxChars} characters`, "prompt[0]");
    return first;
  }
  if (prompt.length === 1 && Array.isArray(first) && first.length > 0 && first.every(isTokenId)) return first;
  const batch = prompt.every((p) => typeof p === "string") || prompt.every((p) => Array.isArray(p));
  throw new ApiError(
    "VALIDATION",
    batch
      ? `prompt: ${prompt.length} prompts in one request are not supported; send one per request`
      : "prompt: must be a string, an array of token ids, or an array holding one string or one array of token ids",
    "prompt",
  );
}

function modelObject(model: ServedModel): object {
  const created = Math.floor((model.loadedAt ?? new Date()).getTime() / 1000);
  return { id: model.name, object: "model", created, owned_by: "actorlm" };
}

function messageOf(m: ChatBody["messages"][number]): ChatMessage {
  const content = typeof m.content === "string" ? m.content : m.content.map((part) => part.text).join("");
  return m.name === undefined ? { role: m.role, content } : { role: m.role, content, name: m.name };
}

/**
 * The normalized request of an OpenAI body (checked by its schema and the route already): absent fields take the
 * library's defaults. Nothing checks it again before the engine, which checks only the ids and the length.
 */
function normalizedOf(prompt: string | number[], body: OpenAiSampling, maxTokens: number | null | undefined): NormalizedRequest {
  const d = DEFAULT_SAMPLING;
  return {
    prompt,
    maxTokens: maxTokens ?? null,
    stop: body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : [...body.stop],
    sampling: {
      temperature: body.temperature ?? d.temperature,
      topK: body.top_k ?? d.topK,
      topP: body.top_p ?? d.topP,
      minP: body.min_p ?? d.minP,
      repetitionPenalty: body.repetition_penalty ?? d.repetitionPenalty,
      frequencyPenalty: body.frequency_penalty ?? d.frequencyPenalty,
      presencePenalty: body.presence_penalty ?? d.presencePenalty,
      seed: body.seed ?? undefined,
    },
  };
}

/** Runs one generation and answers with one JSON object, or with SSE chunks when `body.stream`. */
async function serve(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  model: ServedModel,
  generate: NormalizedRequest,
  shape: Shape,
  body: OpenAiSampling,
): Promise<unknown> {
  const generation = await Generation.start({ model, request: generate, signal: requestSignal(request, ctx.shutdown), receivedAt: request.actorlm.receivedAt, metrics: ctx.metrics });
  const record = request.actorlm;
  record.promptTokens = generation.promptTokens;
  const head = { id: `${shape.idPrefix}-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: model.name, system_fingerprint: `actorlm-${ctx.version}` };
  const usage = (): Usage => ({
    prompt_tokens: generation.promptTokens,
    completion_tokens: generation.completionTokens,
    total_tokens: generation.promptTokens + generation.completionTokens,
  });

  if (body.stream !== true) {
    try {
      await generation.collect();
    } finally {
      record.completionTokens = generation.completionTokens;
    }
    record.outcome = "success";
    return { ...head, object: shape.object, choices: [shape.choice(generation.text, generation.finishReason ?? "length")], usage: usage() };
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices: object[], withUsage: Usage | null = null) => ({ ...head, object: shape.chunkObject, choices, ...(includeUsage ? { usage: withUsage } : {}) });
  const sse = SseStream.open(reply, request.actorlm.gone);
  try {
    let first = true;
    for await (const out of generation.outputs()) {
      if (out.token !== "" || first) await sse.send(chunk([shape.chunkChoice(out.token, null, first)]));
      first = false;
    }
    await sse.send(chunk([shape.chunkChoice("", generation.finishReason ?? "length", false)]));
    if (includeUsage) await sse.send(chunk([], usage()));
    await sse.send("[DONE]");
    record.outcome = "success";
  } catch (error) {
    const reported = inStream(error, ctx.shutdown);
    record.outcome = outcomeOfError(reported);
    await sse.send(openAiErrorBody(ApiError.from(reported, shape.fields)));
  } finally {
    record.completionTokens = generation.completionTokens;
    sse.end();
  }
  return reply;
}
