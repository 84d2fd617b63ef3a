// Tools as OpenAI's API and transformers' chat templates describe them: function definitions with a JSON Schema for
// their arguments, the caller's choice of whether (and which) to call, and the calls a completion makes.
import { LlmError } from "../errors.js";
import { checkJsonSchema, type JsonSchema } from "../grammar/spec.js";

/** A function the model may call: its name, what it does, and a JSON Schema for its arguments (an object). */
export interface ToolDefinition {
  type: "function";
  function: {
    name: string;
    description?: string;
    parameters?: JsonSchema;
    strict?: boolean | null;
  };
}

/**
 * Whether and which tool the model calls: `none` (never: plain text), `auto` (text, or calls; a call always parses
 * and its arguments validate), `required` (at least one call), or one named function (exactly that one).
 */
export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

/** One call a completion makes: `arguments` is JSON text, valid under the tool's parameter schema. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A name the grammar and the formats can carry: letters, digits, `_`, `-` and `.`, 1 .. 64 of them (OpenAI's rule). */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Check a `tools` list (field `field`): each a function with a valid name (unique) and a parameter schema of the
 * subset constrained decoding enforces. Returns it typed; VALIDATION naming the path of the first fault.
 */
export function checkTools(value: unknown, field = "tools"): ToolDefinition[] {
  if (!Array.isArray(value)) throw new LlmError("VALIDATION", `${field}: must be an array of tools`, { field });
  const names = new Set<string>();
  return value.map((tool, i) => {
    const at = `${field}[${i}]`;
    const fail = (path: string, message: string): never => {
      throw new LlmError("VALIDATION", `${path}: ${message}`, { field: path });
    };
    if (!isObject(tool)) fail(at, "must be an object");
    const t = tool as Record<string, unknown>;
    if (t.type !== "function") fail(`${at}.type`, `must be "function", got ${JSON.stringify(t.type)}`);
    if (!isObject(t.function)) fail(`${at}.function`, "must be an object");
    const fn = t.function as Record<string, unknown>;
    if (typeof fn.name !== "string" || !NAME.test(fn.name)) fail(`${at}.function.name`, "must be 1 to 64 letters, digits, _, - or .");
    if (names.has(fn.name as string)) fail(`${at}.function.name`, `${JSON.stringify(fn.name)} is defined twice`);
    names.add(fn.name as string);
    if (fn.description !== undefined && typeof fn.description !== "string") fail(`${at}.function.description`, "must be a string");
    if (fn.parameters !== undefined) {
      if (!isObject(fn.parameters) && typeof fn.parameters !== "boolean") fail(`${at}.function.parameters`, "must be a JSON Schema");
      checkJsonSchema(fn.parameters, `${at}.function.parameters`);
    }
    return tool as unknown as ToolDefinition;
  });
}

/** Check a `tool_choice` against the tools (VALIDATION naming `field`); a named function must be one of them. */
export function checkToolChoice(value: unknown, tools: readonly ToolDefinition[], field = "tool_choice"): ToolChoice {
  if (value === "none" || value === "auto" || value === "required") return value;
  if (isObject(value) && value.type === "function" && isObject(value.function) && typeof value.function.name === "string") {
    const name = value.function.name;
    if (!tools.some((t) => t.function.name === name)) throw new LlmError("VALIDATION", `${field}.function.name: no tool named ${JSON.stringify(name)}`, { field: `${field}.function.name` });
    return { type: "function", function: { name } };
  }
  throw new LlmError("VALIDATION", `${field}: must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}`, { field });
}

/** The parameter schema of a tool: its own, or any object when it declares none. */
export function parametersOf(tool: ToolDefinition): JsonSchema {
  return tool.function.parameters ?? { type: "object" };
}
