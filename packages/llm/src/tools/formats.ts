// How each model family writes a tool call, both ways: the grammar (an xgrammar structural tag) that makes the model
// write calls that parse and whose arguments validate, and the parser that turns a completion into its text and
// calls. Hermes-style `<tool_call>{"name": …, "arguments": …}</tool_call>` (Qwen2.5, Qwen3, Hermes, and the fallback
// for templates that name no format), Llama 3.1 / 3.2 JSON (`{"name": …, "parameters": …}`), Mistral
// `[TOOL_CALLS][{"name": …, "arguments": …}]`.
import type { StructuralFormat } from "../grammar/convert.js";
import { parametersOf, type ToolChoice, type ToolDefinition } from "./types.js";

/** A call as written in a completion: the function's name and its arguments as JSON text. */
export interface ParsedCall {
  name: string;
  arguments: string;
}

/** A completion split into its text (calls and the whitespace next to them removed) and the calls it makes, in order. */
export interface ParsedCompletion {
  content: string;
  calls: ParsedCall[];
}

/** Where a complete call (or list of calls) sits in a text: `text.slice(start, end)` holds `calls`. */
export interface FoundCalls {
  start: number;
  end: number;
  calls: ParsedCall[];
}

/** One family's tool-call syntax. */
export interface ToolCallFormat {
  readonly name: "hermes" | "llama3" | "mistral";
  /** The text every call starts with: a streamed completion holds its text back from here until the call is complete. */
  readonly marker: string;
  /**
   * The structural tag that constrains a completion to `choice` over `tools` (one call at most unless `parallel`);
   * undefined for `none` (the output is free text).
   */
  grammar(tools: readonly ToolDefinition[], choice: ToolChoice, parallel: boolean): StructuralFormat | undefined;
  /** The first complete call(s) in `text`, or undefined. */
  find(text: string): FoundCalls | undefined;
  /** The text and the calls of a completion (calls that do not parse stay in the text). */
  parse(text: string): ParsedCompletion;
}

/** Split `text` with `find`: the calls in order, the text around them joined (whitespace next to a call dropped). */
function parseWith(find: (text: string) => FoundCalls | undefined, text: string): ParsedCompletion {
  const calls: ParsedCall[] = [];
  let content = "";
  let rest = text;
  for (let found = find(rest); found !== undefined; found = find(rest)) {
    content += rest.slice(0, found.start).trimEnd();
    calls.push(...found.calls);
    rest = rest.slice(found.end).trimStart();
  }
  return { content: content + rest, calls };
}

/** The text and end of the JSON value that starts at `text[start]` (an object or an array), or undefined when it does not close. */
export function readJsonValue(text: string, start: number): { value: unknown; end: number } | undefined {
  const open = text[start];
  if (open !== "{" && open !== "[") return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) {
        try {
          return { value: JSON.parse(text.slice(start, i + 1)), end: i + 1 };
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A call from a parsed `{name, arguments | parameters}` object; undefined when it is not one. */
function callOf(v: unknown): ParsedCall | undefined {
  if (!isObject(v) || typeof v.name !== "string") return undefined;
  const args = v.arguments ?? v.parameters ?? {};
  return { name: v.name, arguments: typeof args === "string" ? args : JSON.stringify(args) };
}

/** The tags of every tool (or of the one `choice` names), each `begin` + arguments + `end`. */
function tags(tools: readonly ToolDefinition[], choice: ToolChoice, begin: (name: string) => string, end: string): StructuralFormat[] {
  const chosen = typeof choice === "object" ? tools.filter((t) => t.function.name === choice.function.name) : tools;
  return chosen.map((t) => ({ type: "tag", begin: begin(t.function.name), content: { type: "json_schema", json_schema: parametersOf(t) as boolean | Record<string, unknown> }, end }));
}

/**
 * The structural tag for `choice`: `auto` lets text run until `trigger` starts a call; `required` and a named
 * function demand calls from the first token (`separator` between parallel calls).
 */
function choiceGrammar(choice: ToolChoice, parallel: boolean, all: StructuralFormat[], trigger: string, separator: string): StructuralFormat | undefined {
  if (choice === "none" || all.length === 0) return undefined;
  const list = all as Extract<StructuralFormat, { type: "tag" }>[];
  if (choice === "auto") return { type: "triggered_tags", triggers: [trigger], tags: list, stop_after_first: !parallel };
  return { type: "tags_with_separator", tags: list, separator, at_least_one: true, stop_after_first: !parallel };
}

/** The first match of `pattern` (global or sticky-free) at or after `from`, as an index; -1 when none. */
function indexOf(text: string, pattern: RegExp, from = 0): number {
  const at = text.slice(from).search(pattern);
  return at < 0 ? -1 : at + from;
}

/** Hermes-style calls (Qwen2.5, Qwen3, Hermes; the fallback): `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`. */
export const HERMES_FORMAT: ToolCallFormat = {
  name: "hermes",
  marker: "<tool_call>",
  grammar(tools, choice, parallel) {
    const all = tags(tools, choice, (name) => `<tool_call>\n{"name": ${JSON.stringify(name)}, "arguments": `, "}\n</tool_call>");
    return choiceGrammar(choice, parallel, all, "<tool_call>", "\n");
  },
  find(text) {
    for (let start = text.indexOf("<tool_call>"); start >= 0; start = text.indexOf("<tool_call>", start + 1)) {
      const open = indexOf(text, /\S/, start + "<tool_call>".length);
      const json = open < 0 ? undefined : readJsonValue(text, open);
      const call = json === undefined ? undefined : callOf(json.value);
      const close = json === undefined ? null : /^\s*<\/tool_call>/.exec(text.slice(json.end));
      if (json !== undefined && call !== undefined && close !== null) return { start, end: json.end + close[0].length, calls: [call] };
    }
    return undefined;
  },
  parse(text) {
    return parseWith(this.find, text);
  },
};

/** Llama 3.1 / 3.2 JSON calls: `{"name": …, "parameters": …}` (several separated by `; `), optionally after `<|python_tag|>`. */
export const LLAMA3_FORMAT: ToolCallFormat = {
  name: "llama3",
  marker: "{",
  grammar(tools, choice, parallel) {
    const all = tags(tools, choice, (name) => `{"name": ${JSON.stringify(name)}, "parameters": `, "}");
    return choiceGrammar(choice, parallel, all, '{"name": ', "; ");
  },
  find(text) {
    for (let start = indexOf(text, /(<\|python_tag\|>)?\{\s*"name"/); start >= 0; start = indexOf(text, /(<\|python_tag\|>)?\{\s*"name"/, start + 1)) {
      const brace = text.indexOf("{", start);
      const json = readJsonValue(text, brace);
      const call = json === undefined ? undefined : callOf(json.value);
      if (json !== undefined && call !== undefined) return { start, end: json.end + (/^\s*;\s*/.exec(text.slice(json.end))?.[0].length ?? 0), calls: [call] };
    }
    return undefined;
  },
  parse(text) {
    return parseWith(this.find, text);
  },
};

/** Mistral calls: `[TOOL_CALLS][{"name": …, "arguments": …}, …]`, or the newer `[TOOL_CALLS]name[ARGS]{…}`. */
export const MISTRAL_FORMAT: ToolCallFormat = {
  name: "mistral",
  marker: "[TOOL_CALLS]",
  grammar(tools, choice, parallel) {
    const all = tags(tools, choice, (name) => `[TOOL_CALLS][{"name": ${JSON.stringify(name)}, "arguments": `, "}]");
    return choiceGrammar(choice, parallel, all, "[TOOL_CALLS]", "");
  },
  find(text) {
    const marker = "[TOOL_CALLS]";
    for (let start = text.indexOf(marker); start >= 0; start = text.indexOf(marker, start + 1)) {
      const open = indexOf(text, /\S/, start + marker.length);
      if (open < 0) return undefined;
      const list = readJsonValue(text, open);
      if (list !== undefined && Array.isArray(list.value)) {
        const calls = list.value.map(callOf);
        if (calls.length > 0 && calls.every((c) => c !== undefined)) return { start, end: list.end, calls: calls as ParsedCall[] };
        continue;
      }
      const named = /^([A-Za-z0-9_.-]+)\[ARGS\]/.exec(text.slice(open));
      const args = named === null ? undefined : readJsonValue(text, open + named[0].length);
      if (named !== null && args !== undefined) return { start, end: args.end, calls: [{ name: named[1], arguments: JSON.stringify(args.value) }] };
    }
    return undefined;
  },
  parse(text) {
    return parseWith(this.find, text);
  },
};

/**
 * The tool-call format a chat template uses, from its source: `<tool_call>` → Hermes (Qwen), `[TOOL_CALLS]` →
 * Mistral, `<|python_tag|>` / `ipython` → Llama 3.1; anything else (a template without tools, the plain template)
 * → the Hermes fallback.
 */
export function toolCallFormat(templateSource: string | undefined): ToolCallFormat {
  const source = templateSource ?? "";
  if (source.includes("<tool_call>")) return HERMES_FORMAT;
  if (source.includes("[TOOL_CALLS]")) return MISTRAL_FORMAT;
  if (source.includes("<|python_tag|>") || source.includes("ipython")) return LLAMA3_FORMAT;
  return HERMES_FORMAT;
}
