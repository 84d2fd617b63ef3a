// Tool calling: definitions and choices checked, the family's call syntax (grammar and parser), calls with ids.
import { randomBytes } from "node:crypto";
import type { GrammarSpec } from "../grammar/spec.js";
import { structuralOffThread } from "../grammar/grammar-pool.js";
import type { ToolCallFormat } from "./formats.js";
import type { ToolCall, ToolChoice, ToolDefinition } from "./types.js";

export { checkTools, checkToolChoice, parametersOf, type ToolCall, type ToolChoice, type ToolDefinition } from "./types.js";
export {
  HERMES_FORMAT, LLAMA3_FORMAT, MISTRAL_FORMAT, toolCallFormat, readJsonValue,
  type ParsedCall, type ParsedCompletion, type ToolCallFormat, type FoundCalls,
} from "./formats.js";
export { ToolCallStream, type ToolCallDelta, type ToolStreamEvent } from "./stream.js";

/** A fresh tool-call id in OpenAI's style (`call_` and 24 random characters). */
export function toolCallId(): string {
  return `call_${randomBytes(18).toString("base64url")}`;
}

/**
 * The grammar a request with `tools` runs under for `choice` (`format`'s syntax, EBNF converted on a pool thread and
 * cached): calls that always parse with arguments valid under each tool's schema, one call at most unless
 * `parallel`. Undefined for `none`.
 */
export async function toolGrammar(
  format: ToolCallFormat,
  tools: readonly ToolDefinition[],
  choice: ToolChoice,
  parallel: boolean,
  signal?: AbortSignal,
): Promise<GrammarSpec | undefined> {
  const structural = format.grammar(tools, choice, parallel);
  if (structural === undefined) return undefined;
  return { type: "ebnf", grammar: await structuralOffThread(structural, "tools", signal) };
}

/** A completion's text split by `format` into its content (null when only calls made it) and its calls, each with a fresh id. */
export function parseToolCalls(format: ToolCallFormat, text: string, id: () => string = toolCallId): { content: string | null; toolCalls: ToolCall[] } {
  const { content, calls } = format.parse(text);
  return {
    content: calls.length > 0 && content === "" ? null : content,
    toolCalls: calls.map((c) => ({ id: id(), type: "function", function: { name: c.name, arguments: c.arguments } })),
  };
}
