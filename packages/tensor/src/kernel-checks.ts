/**
 * The argument checks every backend makes the same way (js, wasm, gpu): one place, next to the `Kernels` interface,
 * so no backend imports another's.
 */
import type { WeightFormat } from "./formats.js";
import type { Buffer, TernarySource, WorkLimits } from "./kernels.js";

/**
 * RangeError unless a ternary source is stored as a `ternary` matrix with a finite, positive scale (the one check
 * every backend makes before storing it).
 */
export function checkTernarySource(shape: readonly number[], format: WeightFormat, source: TernarySource): void {
  if (format !== "ternary" || shape.length !== 2) throw new RangeError(`ternary values are stored only as a ternary matrix, not as ${format} [${shape.join(", ")}]`);
  if (!Number.isFinite(source.scale) || source.scale <= 0) throw new RangeError(`a ternary matrix's scale must be finite and positive, got ${source.scale}`);
}

/** The limits, checked: RangeError naming a field that is not an integer ≥ 1. */
export function checkLimits(limits: WorkLimits): WorkLimits {
  for (const key of ["rows", "positions", "queriesPerKvHead"] as const) {
    const v = limits[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`work limit ${key} must be an integer ≥ 1, got ${v}`);
  }
  return limits;
}

/** RangeError unless [offset, offset + length) lies within the buffer. */
export function checkRange(buffer: Buffer, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > buffer.length) {
    throw new RangeError(`range [${offset}, ${offset + length}) outside a buffer of ${buffer.length} elements`);
  }
}
