// The TGI-compatible routes: POST /generate, POST /generate_stream, POST / (either, by `stream`), GET /info
// (/health, readiness, is health.ts's).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { DEFAULT_SAMPLING, type NormalizedRequest, type TokenOutput } from "@actorlm/llm";
import { inStream, modelFor, outcomeOfError, requestSignal, track, type ServerContext } from "../context.js";
import { Generation } from "../generation.js";
import { ApiError, tgiErrorBody, type FieldNames } from "../http-errors.js";
import type { ServedModel } from "../models.js";
import { tgiSchema, type TgiBody } from "../schemas.js";
import { SseStream } from "../sse.js";
import { tgiGrammar } from "../structured.js";

/** The library's request fields (the heads of the engine's error paths) as the TGI routes name them. */
export const TGI_FIELDS: FieldNames = Object.freeze({
  prompt: "inputs",
  maxTokens: "parameters.max_new_tokens",
  temperature: "parameters.temperature",
  topP: "parameters.top_p",
  topK: "parameters.top_k",
  repetitionPenalty: "parameters.repetition_penalty",
  frequencyPenalty: "parameters.frequency_penalty",
  seed: "parameters.seed",
  stop: "parameters.stop",
  grammar: "parameters.grammar",
  topLogprobs: "parameters.top_n_tokens",
});

/** TGI's finish reasons. */
type TgiFinish = "length" | "eos_token" | "stop_sequence";

/** Registers the TGI routes. */
export function tgiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const options = { schema: { body: tgiSchema(ctx.limits) }, config: { fields: TGI_FIELDS } };
  app.post<{ Body: TgiBody }>("/generate", options, (request, reply) => track(request, generate(ctx, request, reply, false)));
  app.post<{ Body: TgiBody }>("/generate_stream", options, (request, reply) => track(request, generate(ctx, request, reply, true)));
  app.post<{ Body: TgiBody }>("/", options, (request, reply) => track(request, generate(ctx, request, reply, request.body.stream === true)));

  app.get("/info", async () => {
    const models = ctx.models.list().map((m) => {
      const info = m.state === "ready" ? m.info : undefined;
      return {
        model_id: m.name,
        state: m.state,
        max_total_tokens: info?.maxSequenceLength ?? null,
        max_input_tokens: info === undefined ? null : info.maxSequenceLength - 1,
      };
    });
    const first = ctx.models.list()[0];
    const info = first.state === "ready" ? first.info : undefined;
    return {
      model_id: first.name,
      model_sha: null,
      model_dtype: info?.dtype ?? null,
      model_device_type: "cpu",
      model_backend: info?.backend ?? null,
      model_pipeline_tag: "text-generation",
      max_concurrent_requests: first.limits.maxActive + first.limits.maxQueued,
      max_best_of: 1,
      max_stop_sequences: ctx.limits.maxStopSequences,
      max_input_tokens: info === undefined ? null : info.maxSequenceLength - 1,
      max_total_tokens: info?.maxSequenceLength ?? null,
      max_client_batch_size: 1,
      validation_workers: 1,
      router: "actorlm",
      version: ctx.version,
      sha: null,
      docker_label: null,
      models,
    };
  });
}

/**
 * The normalized request of a TGI body (checked by its schema already): greedy unless `do_sample` or a sampling
 * parameter asks otherwise (as TGI); absent fields take the library's defaults.
 */
function requestOf(body: TgiBody): NormalizedRequest {
  const p = body.parameters ?? {};
  const d = DEFAULT_SAMPLING;
  const samples = p.do_sample === true || (p.temperature != null && p.temperature !== 1) || p.top_k != null || (p.top_p != null && p.top_p < 1);
  const grammar = tgiGrammar(p.grammar);
  // details report each token's log-probability; top_n_tokens its alternatives too
  const scored = p.details === true || (p.top_n_tokens ?? 0) > 0;
  return {
    ...(grammar === undefined ? {} : { grammar }),
    ...(scored ? { topLogprobs: p.top_n_tokens ?? 0 } : {}),
    prompt: body.inputs,
    maxTokens: p.max_new_tokens ?? null,
    stop: p.stop == null ? [] : [...p.stop],
    sampling: {
      ...d,
      temperature: samples ? (p.temperature ?? d.temperature) : 0,
      topK: p.top_k ?? d.topK,
      topP: p.top_p ?? d.topP,
      repetitionPenalty: p.repetition_penalty ?? d.repetitionPenalty,
      frequencyPenalty: p.frequency_penalty ?? d.frequencyPenalty,
      seed: p.seed ?? undefined,
    },
  };
}

function tokenOf(out: TokenOutput): object {
  return { id: out.tokenId, text: out.token, logprob: out.logprob ?? null, special: out.special };
}

/** The alternatives of a token (top_n_tokens) in TGI's shape, each with its own text. */
async function topTokensOf(model: ServedModel, out: TokenOutput): Promise<object[]> {
  const top = out.topLogprobs ?? [];
  if (top.length === 0) return [];
  const texts = await model.host.call("tokenTexts", top.map((t) => t.tokenId));
  return top.map((t, i) => ({ id: t.tokenId, text: texts[i], logprob: t.logprob, special: false }));
}

function finishOf(generation: Generation): TgiFinish {
  if (generation.finishReason !== "stop") return "length";
  return generation.eos ? "eos_token" : "stop_sequence";
}

async function generate(ctx: ServerContext, request: FastifyRequest<{ Body: TgiBody }>, reply: FastifyReply, stream: boolean): Promise<unknown> {
  const body = request.body;
  const model = modelFor(ctx.models, body.model);
  request.actorlm.model = model.name;
  const params = body.parameters ?? {};
  const generateRequest = requestOf(body);
  const generation = await Generation.start({ model, request: generateRequest, signal: requestSignal(request, ctx.shutdown), receivedAt: request.actorlm.receivedAt, metrics: ctx.metrics });
  const record = request.actorlm;
  record.promptTokens = generation.promptTokens;
  const fullText = () => (params.return_full_text === true ? body.inputs : "") + generation.text;
  const details = () => ({ finish_reason: finishOf(generation), generated_tokens: generation.completionTokens, seed: generateRequest.sampling.seed ?? null, input_length: generation.promptTokens });

  const topN = params.top_n_tokens ?? 0;
  if (!stream) {
    const tokens: object[] = [];
    const topTokens: object[][] = [];
    try {
      for await (const out of generation.outputs()) {
        if (params.details !== true) continue;
        tokens.push(tokenOf(out));
        if (topN > 0) topTokens.push(await topTokensOf(model, out));
      }
    } finally {
      record.completionTokens = generation.completionTokens;
    }
    record.outcome = "success";
    if (params.details !== true) return { generated_text: fullText() };
    return { generated_text: fullText(), details: { ...details(), prefill: [], tokens, ...(topN > 0 ? { top_tokens: topTokens } : {}) } };
  }

  const sse = SseStream.open(reply, request.actorlm.gone);
  try {
    let index = 0;
    for await (const out of generation.outputs()) {
      index++;
      const last = out.finishReason !== undefined;
      const top = topN > 0 ? await topTokensOf(model, out) : null;
      await sse.send({ index, token: tokenOf(out), top_tokens: top, generated_text: last ? fullText() : null, details: last ? details() : null });
    }
    record.outcome = "success";
  } catch (error) {
    const reported = inStream(error, ctx.shutdown);
    record.outcome = outcomeOfError(reported);
    await sse.send(tgiErrorBody(ApiError.from(reported, TGI_FIELDS)));
  } finally {
    record.completionTokens = generation.completionTokens;
    sse.end();
  }
  return reply;
}
