import { InferenceError } from "@actorlm/runtime";

/** Error codes raised by the llm package (a subset of the runtime's catalogue). */
export type LlmErrorCode = "VALIDATION" | "MODEL_LOAD";

/** An InferenceError from the llm package that also says where: the request `field` or model `file` at fault. */
export class LlmError extends InferenceError {
  override readonly name = "LlmError";

  /** Build an error with a catalogue code; `where` names the request field or model file at fault. */
  constructor(
    code: LlmErrorCode,
    message: string,
    readonly where: { field?: string; file?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** The request field at fault (VALIDATION), if any. */
  get field(): string | undefined {
    return this.where.field;
  }

  /** The model file at fault (MODEL_LOAD), if any. */
  get file(): string | undefined {
    return this.where.file;
  }
}
