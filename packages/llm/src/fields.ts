// Unknown fields in requests and load arguments are refused by name, with a hint when a known field is meant.
import { LlmError } from "./errors.js";

/** Spellings other APIs use for a known field (OpenAI, TGI, llama.cpp). */
const ALIASES: Readonly<Record<string, string>> = Object.freeze({
  max_new_tokens: "maxTokens",
  max_completion_tokens: "maxTokens",
  n_predict: "maxTokens",
  stop_sequences: "stop",
  repeat_penalty: "repetitionPenalty",
  model_path: "model",
});

/** A name without case, `_` and `-`: `max_tokens`, `MaxTokens` and `max-tokens` all become `maxtokens`. */
function squash(name: string): string {
  return name.replace(/[_\-\s]/g, "").toLowerCase();
}

/** Edit distance between `a` and `b` (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** The known field `name` most likely stands for, or undefined when none is close. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  const alias = ALIASES[name];
  if (alias !== undefined && known.includes(alias)) return alias;
  const target = squash(name);
  let best: string | undefined;
  let bestDistance = 3; // at most two edits away
  for (const field of known) {
    const d = distance(target, squash(field));
    if (d < bestDistance) {
      best = field;
      bestDistance = d;
    }
  }
  return best;
}

/** Throws LlmError VALIDATION naming the first own key of `value` that is not in `known` (with a hint when one fits). */
export function refuseUnknownFields(value: Record<string, unknown>, known: readonly string[]): void {
  for (const name of Object.keys(value)) {
    if (known.includes(name)) continue;
    const hint = didYouMean(name, known);
    throw new LlmError("VALIDATION", `${name}: unknown field${hint === undefined ? "" : ` (did you mean ${hint}?)`}`, { field: [name] });
  }
}
