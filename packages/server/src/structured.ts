// The HTTP surfaces of structured output, tools and logprobs, as pure functions the routes call: OpenAI's
// `response_format` and TGI's `grammar` → the engine's grammar spec (errors name the path inside the body:
// `response_format.json_schema.schema.properties.age.type`); `tools` / `tool_choice` / `parallel_tool_calls` checked;
// and the engine's per-token log-probabilities in OpenAI's chat and completions shapes and TGI's details.
import {
  checkGrammarSpec, checkJsonSchema, checkRegex, checkToolChoice, checkTools, LlmError,
  type GrammarSpec, type TokenLogprob, type ToolChoice, type ToolDefinition,
} from "@actorlm/llm";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const refuse = (field: string, message: string): never => {
  throw new LlmError("VALIDATION", `${field}: ${message}`, { field });
};

/**
 * The grammar of an OpenAI `response_format`: none for `text` (or absent), any JSON object for `json_object`, the
 * schema of `json_schema.schema` for `json_schema` (any JSON object when it gives none). VALIDATION naming the path.
 */
export function responseFormatGrammar(value: unknown, field = "response_format"): GrammarSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return refuse(field, "must be an object");
  switch (value.type) {
    case "text":
      return undefined;
    case "json_object":
      return { type: "json_object" };
    case "json_schema": {
      const js = value.json_schema;
      if (!isObject(js)) return refuse(`${field}.json_schema`, "must be an object with a name and a schema");
      if (typeof js.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(js.name)) refuse(`${field}.json_schema.name`, "must be 1 to 64 letters, digits, _ or -");
      if (js.schema === undefined) return { type: "json_object" };
      return checkGrammarSpec({ type: "json_schema", schema: js.schema }, `${field}.json_schema`);
    }
    default:
      return refuse(`${field}.type`, `must be "text", "json_object" or "json_schema", got ${JSON.stringify(value.type)}`);
  }
}

/**
 * The grammar of TGI's `parameters.grammar`: `{type: "json", value: schema}` (the schema as an object or as JSON
 * text) or `{type: "regex", value: pattern}`. VALIDATION naming the path (`parameters.grammar.value.properties.x`).
 */
export function tgiGrammar(value: unknown, field = "parameters.grammar"): GrammarSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return refuse(field, "must be an object with a type and a value");
  const at = `${field}.value`;
  if (value.type === "json") {
    let schema = value.value;
    if (typeof schema === "string") {
      try {
        schema = JSON.parse(schema) as unknown;
      } catch {
        return refuse(at, "is not JSON");
      }
    }
    checkJsonSchema(schema, at);
    return { type: "json_schema", schema: schema as Record<string, unknown> };
  }
  if (value.type === "regex") {
    if (typeof value.value !== "string" || value.value.length === 0) return refuse(at, "must be a non-empty string");
    checkRegex(value.value as string, at);
    return { type: "regex", pattern: value.value as string };
  }
  return refuse(`${field}.type`, `must be "json" or "regex", got ${JSON.stringify(value.type)}`);
}

/** A request's tools, how it lets the model use them, and whether several calls may come at once. */
export interface ToolRequest {
  tools: ToolDefinition[];
  choice: ToolChoice;
  parallel: boolean;
}

/**
 * The tools of an OpenAI chat body: undefined without `tools` (a `tool_choice` other than `none` is then refused);
 * `tool_choice` defaults to `auto`, `parallel_tool_calls` to true. VALIDATION naming the path.
 */
export function toolRequest(body: { tools?: unknown; tool_choice?: unknown; parallel_tool_calls?: unknown }): ToolRequest | undefined {
  const { tools, tool_choice: choice, parallel_tool_calls: parallel } = body;
  if (parallel !== undefined && parallel !== null && typeof parallel !== "boolean") refuse("parallel_tool_calls", "must be a boolean");
  if (tools === undefined || tools === null || (Array.isArray(tools) && tools.length === 0)) {
    if (choice !== undefined && choice !== null && choice !== "none" && choice !== "auto") refuse("tool_choice", "needs tools");
    return undefined;
  }
  const checked = checkTools(tools, "tools");
  return { tools: checked, choice: choice === undefined || choice === null ? "auto" : checkToolChoice(choice, checked, "tool_choice"), parallel: parallel !== false };
}

/** One generated token as the logprobs shapes need it. */
export interface ScoredToken {
  tokenId: number;
  logprob?: number;
  topLogprobs?: TokenLogprob[];
}

/** The text of a token id, as the tokenizer decodes it alone. */
export type TokenText = (id: number) => string;

const bytesOf = (text: string) => [...Buffer.from(text, "utf8")];

/** OpenAI chat's `logprobs.content`: each token's text, log-probability, UTF-8 bytes and top alternatives. */
export function chatLogprobs(tokens: readonly ScoredToken[], text: TokenText): { content: object[]; refusal: null } {
  return {
    content: tokens.map((t) => {
      const token = text(t.tokenId);
      return {
        token,
        logprob: t.logprob ?? 0,
        bytes: bytesOf(token),
        top_logprobs: (t.topLogprobs ?? []).map((a) => ({ token: text(a.tokenId), logprob: a.logprob, bytes: bytesOf(text(a.tokenId)) })),
      };
    }),
    refusal: null,
  };
}

/**
 * OpenAI completions' `logprobs`: tokens, their log-probabilities, the top alternatives of each as `{text: logprob}`
 * (the chosen one included, as OpenAI does) and each token's offset in the text (from `offset`).
 */
export function completionLogprobs(tokens: readonly ScoredToken[], text: TokenText, offset = 0): { tokens: string[]; token_logprobs: number[]; top_logprobs: Record<string, number>[]; text_offset: number[] } {
  const texts = tokens.map((t) => text(t.tokenId));
  const offsets: number[] = [];
  let at = offset;
  for (const t of texts) {
    offsets.push(at);
    at += t.length;
  }
  return {
    tokens: texts,
    token_logprobs: tokens.map((t) => t.logprob ?? 0),
    top_logprobs: tokens.map((t, i) => {
      const top: Record<string, number> = { [texts[i]]: t.logprob ?? 0 };
      for (const a of t.topLogprobs ?? []) top[text(a.tokenId)] ??= a.logprob;
      return top;
    }),
    text_offset: offsets,
  };
}

/** TGI's `details.tokens` and `details.top_tokens`: `{id, text, logprob, special}` per token (and per alternative). */
export function tgiTokens(tokens: readonly (ScoredToken & { special: boolean })[], text: TokenText, isSpecial: (id: number) => boolean): { tokens: object[]; top_tokens?: object[][] } {
  const out: { tokens: object[]; top_tokens?: object[][] } = {
    tokens: tokens.map((t) => ({ id: t.tokenId, text: text(t.tokenId), logprob: t.logprob ?? 0, special: t.special })),
  };
  if (tokens.some((t) => t.topLogprobs !== undefined)) {
    out.top_tokens = tokens.map((t) => (t.topLogprobs ?? []).map((a) => ({ id: a.tokenId, text: text(a.tokenId), logprob: a.logprob, special: isSpecial(a.tokenId) })));
  }
  return out;
}
