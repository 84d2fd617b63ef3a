// A piscina task (runs on a CpuPool thread): a checked grammar spec → its EBNF text, converted by xgrammar away from
// the model worker (a schema that makes the wasm abort never reaches the model's thread).
import { grammarToEbnf, structuralToEbnf, type StructuralFormat } from "./convert.js";
import type { GrammarSpec } from "./spec.js";

/** One grammar to convert: a request's spec, or a structural tag (tool calls); `field` names it in errors. */
export type GrammarTask = { readonly spec: GrammarSpec; readonly field: string } | { readonly structural: StructuralFormat; readonly field: string };

/** The EBNF text of the task's grammar; VALIDATION naming the field when xgrammar refuses it. */
export default function convertGrammar(task: GrammarTask): Promise<string> {
  return "spec" in task ? grammarToEbnf(task.spec, task.field) : structuralToEbnf(task.structural, task.field);
}
