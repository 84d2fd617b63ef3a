/** @actorlm/server — OpenAI- and TGI-compatible HTTP server with metrics and a web playground, and the `actorlm` CLI. */
export { ActorlmServer, CONNECTION_DEFAULTS, createServer, type ServerOptions, type ActorlmServerEvents } from "./server.js";
export type { Phase } from "./lifecycle.js";
export { ModelRegistry, ServedModel, modelNameOf, type EngineOptions, type ModelSource, type ServedModelOptions, type ServedModelEvents } from "./models.js";
// Chat templates live in @actorlm/llm (the CLI, the server and applications render them the same way); re-exported here.
export { ChatTemplate, PLAIN_CHAT_TEMPLATE, type ChatMessage, type ChatTemplateSource, type RenderOptions } from "@actorlm/llm";
export { Supervisor, type RestartPolicy, type SupervisorEvents } from "./supervisor.js";
export { ServerMetrics, outcomeOfStatus, type Outcome } from "./metrics.js";
export {
  ApiError,
  HTTP_ERROR_CODES,
  HTTP_ERROR_STATUS,
  openAiErrorBody,
  tgiErrorBody,
  type ApiErrorCode,
  type HttpErrorCode,
  type FieldNames,
} from "./http-errors.js";
export type { RequestLog, ServerEvents } from "./context.js";
// The embedded model's path, kept here for existing importers: it is defined in @actorlm/llm.
export { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
