/**
 * Checks an integer option and returns it: TypeError unless it is a number, RangeError unless it is a safe
 * integer ≥ `min`. `name` is the option as the caller knows it (`bufferSize`, `maxThreads`, ...).
 */
export function integerOption(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${value === null ? "null" : typeof value}`);
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}
