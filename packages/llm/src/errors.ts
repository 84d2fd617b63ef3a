import { InferenceError, registerErrorClass, type FieldPath } from "@actorlm/runtime";

/** Error codes raised by the llm package (a subset of the runtime's catalogue). */
export type LlmErrorCode = "VALIDATION" | "MODEL_LOAD" | "NON_FINITE";

/**
 * An InferenceError from the llm package that says where: the request `field` or model `file` at fault. It keeps
 * its class, field and file across the model worker's boundary.
 */
export class LlmError extends InferenceError {
  override readonly name = "LlmError";

  /** Build an error with a catalogue code; `where` names the request field (a path, or written out) or model file at fault. */
  constructor(code: LlmErrorCode, message: string, where: { field?: string | FieldPath; file?: string } = {}, options?: { cause?: unknown }) {
    super(code, message, { cause: options?.cause, field: where.field, file: where.file });
  }
}

registerErrorClass("LlmError", (code, message, { cause, field, file }) =>
  code === "VALIDATION" || code === "MODEL_LOAD" || code === "NON_FINITE" ? new LlmError(code, message, { field, file }, { cause }) : new InferenceError(code, message, { cause, field, file }),
);

/**
 * NON_FINITE for logits that hold `value` (NaN or ±inf) at token id `tokenId`, computed for sequence position
 * `position`: the request fails rather than sampling garbage from them.
 */
export function nonFiniteLogits(value: number, tokenId: number, position: number): LlmError {
  return new LlmError(
    "NON_FINITE",
    `logits at position ${position} hold ${value} (token id ${tokenId}): the model computed a non-finite number ` +
      "(its weights hold one, if loaded with checkWeights: false, or an activation overflowed its dtype)",
  );
}
