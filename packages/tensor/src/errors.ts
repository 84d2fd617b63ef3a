/** Why a safetensors file or shard index was refused. */
export type SafetensorsFault =
  | "TRUNCATED"        // shorter than the 8-byte header length
  | "HEADER_BOUNDS"    // header length runs past the end of the file (or is absurd)
  | "BAD_JSON"         // header / index is not valid JSON
  | "BAD_HEADER"       // JSON is valid but an entry is malformed (shape, offsets, types)
  | "UNKNOWN_DTYPE"    // a dtype this package does not know
  | "OUT_OF_BOUNDS"    // data_offsets reach outside the data section
  | "OVERLAP"          // two tensors share bytes
  | "HOLE"             // data-section bytes before or between tensors belong to no tensor
  | "TRAILING_BYTES"   // the data section runs on past the last tensor
  | "SIZE_MISMATCH"    // shape × dtype size ≠ byte length
  | "MISSING_SHARD"    // the index names a file that does not exist
  | "MISSING_TENSOR"   // a tensor is absent from the shard the index points at (or from the file)
  | "IO";              // the file could not be read (or a tensor's buffer not allocated)

/** A refused or unreadable safetensors file; `code` is always "MODEL_LOAD" so the runtime can forward it as-is. */
export class SafetensorsError extends Error {
  /** Error catalogue code shared with the runtime. */
  readonly code = "MODEL_LOAD" as const;
  override readonly name = "SafetensorsError";

  /** Build an error naming the file (and the tensor, when one is at fault). */
  constructor(
    readonly fault: SafetensorsFault,
    readonly file: string,
    message: string,
    readonly tensor?: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${tensor !== undefined ? ` (tensor "${tensor}")` : ""}: ${message}`, options);
  }
}
