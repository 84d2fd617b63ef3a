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

/** The EBNF text of a structural tag's format (tool calls: fixed text around JSON arguments); VALIDATION naming `field`. */
export function structuralToEbnf(format: StructuralFormat, field: string): Promise<string> {
  return convert(field, (xg) => xg.Grammar.fromStructuralTag({ type: "structural_tag", format }));
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
