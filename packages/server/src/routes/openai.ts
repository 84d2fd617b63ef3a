// The OpenAI-compatible routes: POST /v1/completions, POST /v1/chat/completions (both streaming over SSE or not),
// GET /v1/models and GET /v1/models/:id.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  DEFAULT_SAMPLING, parseToolCalls, toolCallFormat, ToolCallStream, toolGrammar, toolCallId,
  type ChatMessage, type NormalizedRequest, type ToolCall, type ToolCallDelta, type ToolCallFormat, type TokenOutput,
} from "@actorlm/llm";
import { inStream, modelFor, outcomeOfError, requestSignal, track, type ServerContext } from "../context.js";
import { Generation } from "../generation.js";
import { ApiError, openAiErrorBody, type FieldNames } from "../http-errors.js";
import type { ServedModel } from "../models.js";
import { chatSchema, completionSchema, type ChatBody, type CompletionBody, type OpenAiSampling } from "../schemas.js";
import { SseStream } from "../sse.js";
import { chatLogprobs, completionLogprobs, responseFormatGrammar, toolRequest, type ToolRequest } from "../structured.js";
import type { GenerationChoice } from "../generation.js";

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
  n: "n",
  topLogprobs: "logprobs",
});

/** The library's request fields as /v1/chat/completions names them (the prompt is the rendered messages). */
export const CHAT_FIELDS: FieldNames = Object.freeze({ ...COMPLETION_FIELDS, prompt: "messages", topLogprobs: "top_logprobs", grammar: "response_format.json_schema" });

/** The OpenAI `usage` object. */
interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What a streamed chunk's choice adds: text, call deltas, the role (the choice's first chunk). */
interface Delta {
  text: string;
  toolCalls?: ToolCallDelta[];
  first: boolean;
}

/** How one kind of OpenAI response is shaped (completions or chat). */
interface Shape {
  /** Prefix of response ids. */
  idPrefix: string;
  /** The route's names for the library's request fields (errors name them). */
  fields: FieldNames;
  object: string;
  chunkObject: string;
  /** A streamed chunk's choice: what it adds, or the end (`finish` set). */
  chunkChoice(index: number, delta: Delta, finish: string | null, logprobs: object | null): object;
  /** A whole answer's choice. */
  choice(index: number, text: string, finish: string, logprobs: object | null, toolCalls?: ToolCall[], content?: string | null): object;
}

const COMPLETION_SHAPE: Shape = {
  idPrefix: "cmpl",
  fields: COMPLETION_FIELDS,
  object: "text_completion",
  chunkObject: "text_completion",
  chunkChoice: (index, delta, finish, logprobs) => ({ index, text: delta.text, logprobs, finish_reason: finish }),
  choice: (index, text, finish, logprobs) => ({ index, text, logprobs, finish_reason: finish }),
};

const CHAT_SHAPE: Shape = {
  idPrefix: "chatcmpl",
  fields: CHAT_FIELDS,
  object: "chat.completion",
  chunkObject: "chat.completion.chunk",
  chunkChoice: (index, delta, finish, logprobs) => {
    const d: Record<string, unknown> = {};
    if (finish === null) {
      if (delta.first) d.role = "assistant";
      if (delta.text !== "" || (delta.first && delta.toolCalls === undefined)) d.content = delta.text;
      if (delta.toolCalls !== undefined) d.tool_calls = delta.toolCalls;
    }
    return { index, delta: d, logprobs, finish_reason: finish };
  },
  choice: (index, text, finish, logprobs, toolCalls, content) => ({
    index,
    message: toolCalls === undefined ? { role: "assistant", content: text } : { role: "assistant", content: content ?? null, tool_calls: toolCalls },
    logprobs,
    finish_reason: finish,
  }),
};

/** How a response reports structure beyond text: calls parsed from each choice, log-probabilities, best_of. */
interface Extras {
  /** Tools the model may call, and their family's syntax. */
  tools?: { request: ToolRequest; format: ToolCallFormat };
  /** Log-probabilities in chat's or completions' shape (absent: none asked for). */
  logprobs?: "chat" | "completions";
  /** best_of samples generated, of which the n with the highest total log-probability are returned (completions). */
  bestOf?: number;
  n: number;
}

/** Registers the OpenAI routes. */
export function openAiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get("/v1/models", async () => ({ object: "list", data: ctx.models.list().map(modelObject) }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => modelObject(ctx.models.get(request.params.id, "id")));

  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: completionSchema(ctx.limits) }, config: { fields: COMPLETION_FIELDS } }, (request, reply) => {
    const body = request.body;
    const model = pick(ctx, request, body.model);
    const prompt = promptOf(body.prompt, ctx.limits.maxPromptChars);
    const n = body.n ?? 1;
    const bestOf = body.best_of ?? n;
    if (bestOf < n) throw new ApiError("VALIDATION", `best_of: must be at least n (${n}), got ${bestOf}`, "best_of");
    if (bestOf > n && body.stream === true) throw new ApiError("VALIDATION", "best_of: cannot be more than n when streaming", "best_of");
    const normalized = normalizedOf(prompt, body, body.max_tokens);
    if (bestOf > 1) normalized.n = bestOf;
    // best_of ranks the samples by their log-probabilities, so it needs them even when the body asks for none
    if (body.logprobs != null || bestOf > n) normalized.topLogprobs = body.logprobs ?? 0;
    const extras: Extras = { n, logprobs: body.logprobs != null ? "completions" : undefined, bestOf: bestOf > n ? bestOf : undefined };
    return track(request, serve(ctx, request, reply, model, normalized, COMPLETION_SHAPE, body, extras));
  });

  app.post<{ Body: ChatBody }>("/v1/chat/completions", { schema: { body: chatSchema(ctx.limits) }, config: { fields: CHAT_FIELDS } }, (request, reply) => {
    const body = request.body;
    const model = pick(ctx, request, body.model);
    if (body.max_tokens != null && body.max_completion_tokens != null && body.max_tokens !== body.max_completion_tokens) {
      throw new ApiError("VALIDATION", "max_completion_tokens: differs from max_tokens; give one of them", "max_completion_tokens");
    }
    const format = responseFormatGrammar(body.response_format);
    const tools = toolRequest(body);
    if (format !== undefined && tools !== undefined && tools.choice !== "none") {
      throw new ApiError("VALIDATION", "response_format: a structured output with tools the model may call is not supported; give one of them", "response_format");
    }
    if (body.top_logprobs != null && body.top_logprobs > 0 && body.logprobs !== true) throw new ApiError("VALIDATION", "top_logprobs: needs logprobs: true", "top_logprobs");
    const messages = body.messages.map(messageOf);
    const chars = messages.reduce((n, m) => n + m.content.length, 0);
    if (chars > ctx.limits.maxPromptChars) {
      throw new ApiError("VALIDATION", `messages: ${chars} characters of content exceed the limit of ${ctx.limits.maxPromptChars}`, "messages");
    }
    model.requireReady();
    const prompt = model.template.render(messages, { tools: tools?.tools });
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    const normalized = normalizedOf(prompt, body, maxTokens);
    if (body.n != null && body.n > 1) normalized.n = body.n;
    if (body.logprobs === true) normalized.topLogprobs = body.top_logprobs ?? 0;
    const extras: Extras = { n: body.n ?? 1, logprobs: body.logprobs === true ? "chat" : undefined };
    return track(request, (async () => {
      if (tools !== undefined && tools.choice !== "none") {
        const callFormat = toolCallFormat(model.template.source);
        extras.tools = { request: tools, format: callFormat };
        normalized.grammar = await toolGrammar(callFormat, tools.tools, tools.choice, tools.parallel, requestSignal(request, ctx.shutdown));
      } else if (format !== undefined) normalized.grammar = format;
      return serve(ctx, request, reply, model, normalized, CHAT_SHAPE, body, extras);
    })());
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
  const content = m.content == null ? "" : typeof m.content === "string" ? m.content : m.content.map((part) => part.text).join("");
  const message: ChatMessage = m.name === undefined ? { role: m.role, content } : { role: m.role, content, name: m.name };
  if (m.tool_calls != null && m.tool_calls.length > 0) {
    // as transformers passes them to templates: arguments parsed when they are JSON
    message.tool_calls = m.tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.function.name, arguments: parseJson(c.function.arguments) } }));
  }
  if (m.tool_call_id !== undefined) message.tool_call_id = m.tool_call_id;
  return message;
}

/** `text` parsed as JSON, or `text` itself when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
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

/** Each token's own text, from the engine (one call for every id of `outputs`, alternatives included). */
async function tokenTexts(model: ServedModel, outputs: readonly TokenOutput[]): Promise<(id: number) => string> {
  const ids = [...new Set(outputs.flatMap((o) => [o.tokenId, ...(o.topLogprobs ?? []).map((t) => t.tokenId)]))];
  const texts = ids.length === 0 ? [] : await model.host.call("tokenTexts", ids);
  const byId = new Map(ids.map((id, i) => [id, texts[i]]));
  return (id) => byId.get(id) ?? "";
}

/** The choices to return: all of them, or the `n` of `best_of` with the highest total log-probability (in their order). */
function returned(choices: readonly GenerationChoice[], extras: Extras): GenerationChoice[] {
  if (extras.bestOf === undefined) return [...choices];
  const total = (c: GenerationChoice) => c.outputs.reduce((sum, o) => sum + (o.logprob ?? 0), 0);
  const ranked = choices.map((c, i) => ({ c, i, score: total(c) })).sort((a, b) => b.score - a.score || a.i - b.i);
  return ranked.slice(0, extras.n).sort((a, b) => a.i - b.i).map((r) => r.c);
}

/** Why a choice ended, as OpenAI says it: `tool_calls` when it made calls. */
function finishOf(choice: GenerationChoice, calls: number): string {
  return calls > 0 ? "tool_calls" : (choice.finishReason ?? "length");
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
  extras: Extras,
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
  // the eos token that ended a choice is not part of its text, nor of its log-probabilities (as OpenAI reports them)
  const scored = (outputs: readonly TokenOutput[]) => outputs.filter((o) => !(o.special && o.finishReason !== undefined));
  const logprobsOf = (outputs: readonly TokenOutput[], text: (id: number) => string): object | null =>
    extras.logprobs === "chat" ? chatLogprobs(scored(outputs), text) : extras.logprobs === "completions" ? completionLogprobs(scored(outputs), text) : null;

  if (body.stream !== true) {
    try {
      await generation.collect();
    } finally {
      record.completionTokens = generation.completionTokens;
    }
    const chosen = returned(generation.choices, extras);
    const text = extras.logprobs === undefined ? () => "" : await tokenTexts(model, chosen.flatMap((c) => c.outputs));
    const choices = chosen.map((c, index) => {
      const logprobs = logprobsOf(c.outputs, text);
      if (extras.tools === undefined) return shape.choice(index, c.text, finishOf(c, 0), logprobs);
      const { content, toolCalls } = parseToolCalls(extras.tools.format, c.text);
      if (toolCalls.length === 0) return shape.choice(index, c.text, finishOf(c, 0), logprobs);
      return shape.choice(index, c.text, finishOf(c, toolCalls.length), logprobs, toolCalls, content);
    });
    record.outcome = "success";
    return { ...head, object: shape.object, choices, usage: usage() };
  }

  const includeUsage = body.stream_options?.include_usage === true;
  const chunk = (choices: object[], withUsage: Usage | null = null) => ({ ...head, object: shape.chunkObject, choices, ...(includeUsage ? { usage: withUsage } : {}) });
  const sse = SseStream.open(reply, request.actorlm.gone);
  const states: { first: boolean; calls: ToolCallStream | undefined }[] = [];
  try {
    for await (const out of generation.outputs()) {
      const index = out.choice ?? 0;
      const state = (states[index] ??= { first: true, calls: extras.tools === undefined ? undefined : new ToolCallStream(extras.tools.format, toolCallId) });
      const logprobs = extras.logprobs === undefined || scored([out]).length === 0 ? null : logprobsOf([out], await tokenTexts(model, [out]));
      const event = state.calls === undefined ? { content: out.token, toolCalls: [] } : state.calls.push(out.token);
      if (out.finishReason !== undefined && state.calls !== undefined) {
        const rest = state.calls.flush();
        event.content += rest.content;
        event.toolCalls.push(...rest.toolCalls);
      }
      const toolCalls = event.toolCalls.length > 0 ? event.toolCalls : undefined;
      if (event.content !== "" || toolCalls !== undefined || state.first || logprobs !== null) {
        await sse.send(chunk([shape.chunkChoice(index, { text: event.content, toolCalls, first: state.first }, null, logprobs)]));
        state.first = false;
      }
      if (out.finishReason !== undefined) {
        const calls = state.calls?.calls ?? 0;
        await sse.send(chunk([shape.chunkChoice(index, { text: "", first: false }, calls > 0 ? "tool_calls" : out.finishReason, null)]));
      }
    }
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
