// The server's error catalogue: every failure an HTTP client sees has a code, a status and, for a bad request, the
// request field at fault; it is rendered in the shape of the API the route belongs to (OpenAI or TGI).
import { ERROR_STATUS, InferenceError, isErrorCode, type ErrorCode, type FieldPath } from "@actorlm/runtime";

/** Codes only the HTTP layer raises, beside the runtime's catalogue. */
export const HTTP_ERROR_CODES = [
  "MALFORMED_REQUEST", "MALFORMED_BODY", "UNAUTHORIZED", "MODEL_NOT_FOUND", "ROUTE_NOT_FOUND", "REQUEST_TIMEOUT", "BODY_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE", "HEADERS_TOO_LARGE", "INTERNAL",
] as const;

/** A code of the HTTP layer. */
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

/** Any code a client can see: the runtime's catalogue plus the HTTP layer's. */
export type ApiErrorCode = ErrorCode | HttpErrorCode;

/** HTTP status of each HTTP-layer code (the runtime's codes keep theirs, ERROR_STATUS). */
export const HTTP_ERROR_STATUS: Readonly<Record<HttpErrorCode, number>> = Object.freeze({
  MALFORMED_REQUEST: 400,
  MALFORMED_BODY: 400,
  UNAUTHORIZED: 401,
  MODEL_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
});

/**
 * How one route's request body names the library's request fields (the camelCase keys of `GenerateRequest`, which
 * start the field paths of the engine's errors): `maxTokens` is `max_tokens` on /v1/completions,
 * `parameters.max_new_tokens` on /generate.
 */
export type FieldNames = Readonly<Record<string, string>>;

/**
 * A field path in a route's names: its first key through `fields` (`["stop", 1]` → `parameters.stop[1]` on TGI), the
 * rest as they are; a key the route does not rename keeps the library's name.
 */
export function apiField(path: FieldPath, fields: FieldNames): string {
  const [head, ...rest] = path;
  const name = typeof head === "number" ? `[${head}]` : (fields[head] ?? head);
  return name + rest.map((key) => (typeof key === "number" ? `[${key}]` : `.${key}`)).join("");
}

/** An error as a client sees it: code, status, message, and the request field at fault (`param`) if any. */
export class ApiError extends Error {
  /** Creates an error; `param` names the request field at fault. */
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly param: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ApiError";
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return isErrorCode(this.code) ? ERROR_STATUS[this.code] : HTTP_ERROR_STATUS[this.code];
  }

  /**
   * Any thrown value as an ApiError. An InferenceError keeps its code; when it names a field (its `path`), `param` is
   * that field in the route's names (`fields`, see {@link apiField}) and the message is `param: ` and the error's
   * `detail`, whose text is kept as it is. An error without a field keeps its message and has no `param`.
   * Fastify's own errors (schema validation, a bad URL, body limit and length, media type) get their codes here; bodies
   * are parsed by json-body.ts, which throws ApiErrors itself.
   */
  static from(error: unknown, fields: FieldNames = {}): ApiError {
    if (error instanceof ApiError) return error;
    if (InferenceError.is(error)) return fromInference(error, fields);
    const fastify = error as { code?: unknown; statusCode?: unknown; validation?: unknown; message?: unknown };
    if (Array.isArray(fastify.validation)) return fromValidation(fastify.validation as AjvError[], fields);
    switch (fastify.code) {
      case "FST_ERR_BAD_URL":
        return new ApiError("MALFORMED_REQUEST", `path: not a valid URL (${String(fastify.message)})`, "path", { cause: error });
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return new ApiError("BODY_TOO_LARGE", "body: request body is larger than the server's limit", "body", { cause: error });
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return new ApiError("UNSUPPORTED_MEDIA_TYPE", "body: must be sent as application/json", "body", { cause: error });
      case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
        return new ApiError("MALFORMED_BODY", `body: its length differs from Content-Length (${String(fastify.message)})`, "body", { cause: error });
    }
    const status = typeof fastify.statusCode === "number" ? fastify.statusCode : 500;
    if (status >= 400 && status < 500) {
      return new ApiError("MALFORMED_REQUEST", `request: ${error instanceof Error ? error.message : String(error)}`, null, { cause: error });
    }
    return new ApiError("INTERNAL", `internal error: ${error instanceof Error ? error.message : String(error)}`, null, { cause: error });
  }
}

/** The OpenAI error object type for a status. */
function openAiType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 503) return "service_unavailable_error";
  if (status === 499) return "cancelled";
  if (status >= 500 || status === 424) return "server_error";
  return "invalid_request_error";
}

/** TGI's `error_type` for a code. */
function tgiType(code: ApiErrorCode): string {
  switch (code) {
    case "VALIDATION":
    case "MALFORMED_REQUEST":
    case "MALFORMED_BODY":
    case "REQUEST_TIMEOUT":
    case "BODY_TOO_LARGE":
    case "UNSUPPORTED_MEDIA_TYPE":
    case "HEADERS_TOO_LARGE":
      return "validation";
    case "OVERLOADED":
      return "overloaded";
    case "NOT_READY":
      return "unhealthy";
    case "UNAUTHORIZED":
      return "authentication";
    case "MODEL_NOT_FOUND":
    case "ROUTE_NOT_FOUND":
      return "not_found";
    case "CANCELLED":
      return "cancelled";
    default:
      return "generation";
  }
}

/** The OpenAI error shape: `{ error: { message, type, param, code } }`. */
export function openAiErrorBody(error: ApiError): { error: { message: string; type: string; param: string | null; code: ApiErrorCode } } {
  return { error: { message: error.message, type: openAiType(error.status), param: error.param, code: error.code } };
}

/** The TGI error shape: `{ error, error_type }` (plus our `code` and the field at fault). */
export function tgiErrorBody(error: ApiError): { error: string; error_type: string; code: ApiErrorCode; param: string | null } {
  return { error: error.message, error_type: tgiType(error.code), code: error.code, param: error.param };
}

/** Which API's error shape a URL path answers in: OpenAI under /v1/, TGI elsewhere. */
export function errorBodyFor(path: string): (error: ApiError) => object {
  return path.startsWith("/v1/") || path === "/v1" ? openAiErrorBody : tgiErrorBody;
}

function fromInference(error: InferenceError, fields: FieldNames): ApiError {
  if (error.path === undefined || error.path.length === 0) return new ApiError(error.code, error.message, null, { cause: error });
  const param = apiField(error.path, fields);
  return new ApiError(error.code, `${param}: ${error.detail}`, param, { cause: error });
}

/** What an Ajv error carries (the parts read here). */
interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Hints for fields of the other API or misspelled ones; a hint is given when the route has the field it names. */
const HINTS: Readonly<Record<string, string>> = Object.freeze({
  max_new_tokens: "max_tokens",
  max_tokens: "max_new_tokens",
  max_length: "max_tokens",
  maxTokens: "max_tokens",
  inputs: "prompt",
  prompt: "inputs",
  topP: "top_p",
  topK: "top_k",
  stop_sequences: "stop",
});

/** A schema validation failure as VALIDATION naming the field (`a.b[2]`), in the route's names. */
function fromValidation(errors: AjvError[], fields: FieldNames): ApiError {
  const e = errors[0];
  const path = e.instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === "" ? part : `${acc}.${part}`), "");
  const at = (child: string) => (path === "" ? child : `${path}.${child}`);
  let field = path === "" ? "body" : path;
  let message: string;
  switch (e.keyword) {
    case "required":
      field = at(String(e.params.missingProperty));
      message = "is required";
      break;
    case "additionalProperties": {
      const name = String(e.params.additionalProperty);
      field = at(name);
      const meant = HINTS[name];
      const known = meant !== undefined && Object.values(fields).some((f) => f === meant || f.endsWith(`.${meant}`));
      const hint = known ? ` (did you mean "${meant}"?)` : "";
      message = `unknown field${hint}`;
      break;
    }
    case "const":
      message = `only ${JSON.stringify(e.params.allowedValue)} is supported`;
      break;
    case "enum": {
      const allowed = (e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ");
      // enums with null are the unsupported features that admit only their neutral value
      message = (e.params.allowedValues as unknown[]).includes(null) ? `not supported: only ${allowed} accepted` : `must be one of ${allowed}`;
      break;
    }
    case "type":
      message = `must be ${String(e.params.type).replace(/,/g, " or ")}`;
      break;
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum": {
      const op = { minimum: "≥", maximum: "≤", exclusiveMinimum: ">", exclusiveMaximum: "<" }[e.keyword];
      message = `must be ${op} ${String(e.params.limit)}`;
      break;
    }
    case "minLength":
      message = e.params.limit === 1 ? "must not be empty" : `must have at least ${String(e.params.limit)} characters`;
      break;
    case "maxLength":
      message = `must have at most ${String(e.params.limit)} characters`;
      break;
    case "minItems":
      message = `must have at least ${String(e.params.limit)} item${e.params.limit === 1 ? "" : "s"}`;
      break;
    case "maxItems":
      message = `must have at most ${String(e.params.limit)} items`;
      break;
    default:
      message = e.message ?? `fails ${e.keyword}`;
  }
  return new ApiError("VALIDATION", `${field}: ${message}`, field);
}
