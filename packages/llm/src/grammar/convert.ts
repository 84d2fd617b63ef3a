// A checked grammar spec → the EBNF text of its grammar (xgrammar's dialect), the one form every grammar reaches the
// model worker in: converting a JSON Schema or a regular expression to a grammar is parsing work that can fail, so it
// runs off the model worker (grammar-task.ts, on a pool thread), and the worker only compiles EBNF against the
// vocabulary. The conversion needs no tokenizer.
import { LlmError } from "../errors.js";
import type * as Xg from "@mlc-ai/web-xgrammar";
import type { GrammarSpec } from "./spec.js";
import { resetXGrammar, xgCall, xgrammar, XGrammarFailure } from "./xgrammar.js";

/**
 * JSON is generated in one layout, `{"a": 1, "b": [true, null]}` (separators ", " and ": ", no other whitespace):
 * xgrammar allows any whitespace between elements by default, and a small model can spend its whole token budget on
 * newlines there (the embedded model does).
 */
const jsonLayout = [false, -1, undefined, true] as const;

/** A structural tag's format (xgrammar's format objects: sequences of constant strings, JSON schemas, regexes, tags). */
export type StructuralFormat = Xg.StructuralTagFormat;

/**
 * The EBNF text of `spec` (checked by `checkGrammarSpec`): JSON Schemas in strict mode (no properties or items the
 * schema does not name, so every output also validates against it), JSON in one layout (see `jsonLayout`). VALIDATION naming `field` (and the inner field) when xgrammar refuses it.
 */
export async function grammarToEbnf(spec: GrammarSpec, field = "grammar"): Promise<string> {
  switch (spec.type) {
    case "json_object":
      return convert(field, (xg) => xg.Grammar.fromJSONSchema(JSON.stringify({ type: "object" }), ...jsonLayout));
    case "json_schema":
      return convert(`${field}.schema`, (xg) => xg.Grammar.fromJSONSchema(JSON.stringify(spec.schema), ...jsonLayout));
    case "regex":
      return convert(`${field}.pattern`, (xg) => xg.Grammar.fromStructuralTag({ type: "structural_tag", format: { type: "regex", pattern: spec.pattern } }));
    case "ebnf":
      return convert(`${field}.grammar`, (xg) => xg.Grammar.fromEBNF(spec.grammar, "root"));
  }
}

/**
 * The EBNF text of a structural tag's format (tool calls: fixed text around JSON arguments); VALIDATION naming
 * `field`. Its JSON Schema parts get the same layout as a JSON Schema grammar (xgrammar's structural tags would
 * allow any whitespace there): each becomes a grammar part holding that schema's EBNF.
 */
export async function structuralToEbnf(format: StructuralFormat, field: string): Promise<string> {
  const laidOut = await layOut(format, field);
  return rootFirst(await convert(field, (xg) => xg.Grammar.fromStructuralTag({ type: "structural_tag", format: laidOut })));
}

/**
 * Printed EBNF whose start rule is named `root` again. A structural tag with grammar parts prints their `root` rules
 * under their own name and its own start rule as `root_1` (or later): the start rule is the root-named rule no rule
 * refers to, and it swaps names with `root`.
 */
function rootFirst(ebnf: string): string {
  const names = [...ebnf.matchAll(/^([A-Za-z_][A-Za-z0-9_]*) ::=/gm)].map((m) => m[1]);
  const referenced = new Set<string>();
  for (const line of ebnf.split("\n")) {
    const body = line.slice(line.indexOf("::=") + 3);
    mapIdentifiers(body, (id) => (referenced.add(id), id));
  }
  const start = names.find((n) => /^root(_\d+)?$/.test(n) && !referenced.has(n));
  if (start === undefined || start === "root") return ebnf;
  const swap = (id: string) => (id === start ? "root" : id === "root" ? start : id);
  return ebnf.split("\n").map((line) => mapIdentifiers(line, swap)).join("\n");
}

/** `text` (EBNF) with every rule name outside quoted strings and character classes replaced by `map(name)`. */
function mapIdentifiers(text: string, map: (id: string) => string): string {
  let out = "";
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === '"' || c === "[") {
      const close = c === '"' ? '"' : "]";
      let j = i + 1;
      while (j < text.length && text[j] !== close) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j])) j++;
      out += map(text.slice(i, j));
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** `format` with every `json_schema` part replaced by a `grammar` part of that schema in {@link jsonLayout}. */
async function layOut(format: StructuralFormat, field: string): Promise<StructuralFormat> {
  const node = format as unknown as Record<string, unknown>;
  if (node.type === "json_schema") {
    const schema = node.json_schema;
    return { type: "grammar", grammar: await convert(field, (xg) => xg.Grammar.fromJSONSchema(JSON.stringify(schema), ...jsonLayout)) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (Array.isArray(value)) out[key] = await Promise.all(value.map((v) => (typeof v === "object" && v !== null ? layOut(v as StructuralFormat, field) : v)));
    else if (typeof value === "object" && value !== null && key === "content") out[key] = await layOut(value as StructuralFormat, field);
    else out[key] = value;
  }
  return out as unknown as StructuralFormat;
}

/** Run one conversion, print the grammar and dispose of it; a refusal is VALIDATION naming `field`. */
async function convert(field: string, build: (xg: ReturnType<typeof xgrammar>) => Promise<Xg.Grammar>): Promise<string> {
  try {
    const grammar = await xgCall(() => build(xgrammar()));
    try {
      return grammar.toString();
    } finally {
      grammar.dispose();
    }
  } catch (error) {
    if (!(error instanceof XGrammarFailure)) throw error;
    resetXGrammar(); // an aborted wasm call may leave its heap inconsistent: the next conversion gets a fresh instance
    throw new LlmError("VALIDATION", `${field}: ${error.message}`, { field }, { cause: error });
  }
}
