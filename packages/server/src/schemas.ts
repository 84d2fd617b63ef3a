// JSON schemas of the request bodies (checked by fastify's Ajv before a route runs) and the TypeScript shapes they
// guarantee. Unknown fields are refused by name; features actorlm does not implement (echo, suffix, logit_bias …)
// accept only their neutral value, so a client never silently gets less than it asked for. Grammars, tools and their
// schemas are checked by structured.ts (naming the path inside them), not here.

/** Limits the schemas enforce. */
export interface SchemaLimits {
  /** Longest prompt (or messages' total content) in characters. */
  maxPromptChars: number;
  /** Most stop strings a request may give. */
  maxStopSequences: number;
}

type Schema = Record<string, unknown>;

const SAFE = Number.MAX_SAFE_INTEGER;
const nullableInt = (extra: Schema = {}): Schema => ({ type: ["integer", "null"], ...extra });
const nullableNumber = (extra: Schema = {}): Schema => ({ type: ["number", "null"], ...extra });
/** Only the neutral values of an unsupported feature. */
const only = (...values: unknown[]): Schema => ({ enum: values });

/** Sampling fields shared by the OpenAI routes (with the common `top_k` / `min_p` / `repetition_penalty` extensions). */
function openAiSampling(limits: SchemaLimits): Schema {
  return {
    max_tokens: nullableInt({ minimum: 1 }),
    temperature: nullableNumber({ minimum: 0 }),
    top_p: nullableNumber({ exclusiveMinimum: 0, maximum: 1 }),
    top_k: nullableInt({ minimum: 1 }),
    min_p: nullableNumber({ minimum: 0, exclusiveMaximum: 1 }),
    repetition_penalty: nullableNumber({ exclusiveMinimum: 0 }),
    frequency_penalty: nullableNumber({ minimum: -2, maximum: 2 }),
    presence_penalty: nullableNumber({ minimum: -2, maximum: 2 }),
    seed: nullableInt({ minimum: -SAFE, maximum: SAFE }),
    stop: { type: ["string", "array", "null"], minLength: 1, items: { type: "string", minLength: 1 }, maxItems: limits.maxStopSequences },
    n: nullableInt({ minimum: 1, maximum: 16 }),
    stream: { type: ["boolean", "null"] },
    stream_options: {
      type: ["object", "null"],
      additionalProperties: false,
      properties: { include_usage: { type: ["boolean", "null"] } },
    },
    logit_bias: { type: ["object", "null"], maxProperties: 0 },
    user: { type: "string", maxLength: 256 },
    model: { type: "string", minLength: 1, maxLength: 256 },
  };
}

/** POST /v1/completions. */
export function completionSchema(limits: SchemaLimits): Schema {
  return {
    type: "object",
    additionalProperties: false,
    required: ["prompt"],
    properties: {
      ...openAiSampling(limits),
      // a string, or OpenAI's arrays: [string], [token ids], [[token ids]]; promptOf() in routes/openai.ts reads them
      prompt: {
        type: ["string", "array"],
        minLength: 1,
        maxLength: limits.maxPromptChars,
        items: { type: ["string", "number", "array"] },
        minItems: 1,
      },
      echo: only(false, null),
      logprobs: nullableInt({ minimum: 0, maximum: 20 }), // even 0 asks for the sampled tokens' log-probabilities
      suffix: only("", null),
      best_of: nullableInt({ minimum: 1, maximum: 16 }),
    },
  };
}

/** POST /v1/chat/completions. */
export function chatSchema(limits: SchemaLimits): Schema {
  return {
    type: "object",
    additionalProperties: false,
    required: ["messages"],
    properties: {
      ...openAiSampling(limits),
      messages: {
        type: "array",
        minItems: 1,
        maxItems: 4096,
        items: {
          type: "object",
          additionalProperties: false,
          required: ["role"],
          properties: {
            role: { enum: ["system", "developer", "user", "assistant", "tool"] },
            content: {
              type: ["string", "array", "null"],
              items: {
                type: "object",
                additionalProperties: false,
                required: ["type", "text"],
                properties: { type: { const: "text" }, text: { type: "string" } },
              },
            },
            name: { type: "string", maxLength: 256 },
            tool_calls: {
              type: ["array", "null"],
              items: {
                type: "object",
                required: ["function"],
                properties: {
                  id: { type: "string" },
                  type: { const: "function" },
                  function: { type: "object", required: ["name", "arguments"], properties: { name: { type: "string" }, arguments: { type: "string" } } },
                },
              },
            },
            tool_call_id: { type: "string" },
          },
        },
      },
      max_completion_tokens: nullableInt({ minimum: 1 }),
      logprobs: { type: ["boolean", "null"] },
      top_logprobs: nullableInt({ minimum: 0, maximum: 20 }),
      tools: { type: ["array", "null"], items: { type: "object" } },
      tool_choice: { type: ["string", "object", "null"] },
      parallel_tool_calls: { type: ["boolean", "null"] },
      // every OpenAI form is known, so a structured-output request is refused as such (in routes/openai.ts), never as an unknown field
      response_format: {
        type: ["object", "null"],
        additionalProperties: false,
        required: ["type"],
        properties: { type: { enum: ["text", "json_object", "json_schema"] }, json_schema: { type: "object" } },
      },
    },
  };
}

/** POST /generate, /generate_stream and / (TGI). */
export function tgiSchema(limits: SchemaLimits): Schema {
  return {
    type: "object",
    additionalProperties: false,
    required: ["inputs"],
    properties: {
      inputs: { type: "string", minLength: 1, maxLength: limits.maxPromptChars },
      model: { type: "string", minLength: 1, maxLength: 256 },
      stream: { type: ["boolean", "null"] },
      parameters: {
        type: ["object", "null"],
        additionalProperties: false,
        properties: {
          max_new_tokens: nullableInt({ minimum: 1 }),
          temperature: nullableNumber({ minimum: 0 }),
          top_p: nullableNumber({ exclusiveMinimum: 0, maximum: 1 }),
          top_k: nullableInt({ minimum: 1 }),
          repetition_penalty: nullableNumber({ exclusiveMinimum: 0 }),
          frequency_penalty: nullableNumber({ minimum: -2, maximum: 2 }),
          seed: nullableInt({ minimum: 0, maximum: SAFE }),
          stop: { type: ["array", "null"], items: { type: "string", minLength: 1 }, maxItems: limits.maxStopSequences },
          do_sample: { type: ["boolean", "null"] },
          details: { type: ["boolean", "null"] },
          return_full_text: { type: ["boolean", "null"] },
          decoder_input_details: only(false, null),
          typical_p: only(1, null),
          truncate: only(null),
          watermark: only(false, null),
          best_of: only(1, null),
          top_n_tokens: nullableInt({ minimum: 0, maximum: 20 }),
          grammar: { type: ["object", "null"] },
          adapter_id: only(null),
        },
      },
    },
  };
}

/** Sampling fields of an OpenAI request body, as the schema admits them. */
export interface OpenAiSampling {
  model?: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  n?: number | null;
}

/** A POST /v1/completions body (the prompt's array forms are checked by the route). */
export interface CompletionBody extends OpenAiSampling {
  prompt: string | (string | number | unknown[])[];
  logprobs?: number | null;
  best_of?: number | null;
}

/** One message of a POST /v1/chat/completions body. */
export interface ChatMessageBody {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content?: string | { type: "text"; text: string }[] | null;
  name?: string;
  tool_calls?: { id?: string; type?: "function"; function: { name: string; arguments: string } }[] | null;
  tool_call_id?: string;
}

/** A POST /v1/chat/completions body. */
export interface ChatBody extends OpenAiSampling {
  messages: ChatMessageBody[];
  max_completion_tokens?: number | null;
  response_format?: { type: "text" | "json_object" | "json_schema"; json_schema?: object } | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  tools?: object[] | null;
  tool_choice?: string | object | null;
  parallel_tool_calls?: boolean | null;
}

/** A TGI request body. */
export interface TgiBody {
  inputs: string;
  model?: string;
  stream?: boolean | null;
  parameters?: {
    max_new_tokens?: number | null;
    temperature?: number | null;
    top_p?: number | null;
    top_k?: number | null;
    repetition_penalty?: number | null;
    frequency_penalty?: number | null;
    seed?: number | null;
    stop?: string[] | null;
    do_sample?: boolean | null;
    details?: boolean | null;
    return_full_text?: boolean | null;
    top_n_tokens?: number | null;
    grammar?: object | null;
  } | null;
}
