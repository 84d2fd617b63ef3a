/** Error codes raised by the llm package (a subset of the runtime's catalogue). */
export type LlmErrorCode = "VALIDATION" | "MODEL_LOAD";

/** An error from the llm package; `code` says what kind, `field` or `file` say where. */
export class LlmError extends Error {
  override readonly name = "LlmError";

  /** Build an error with a catalogue code; `where` names the request field or model file at fault. */
  constructor(
    readonly code: LlmErrorCode,
    message: string,
    readonly where: { field?: string; file?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
