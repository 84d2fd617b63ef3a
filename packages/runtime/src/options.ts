import { InferenceError } from "./errors.js";

/** Why `value` is not a safe integer ≥ `min`, or undefined when it is one: the one integer check of actorlm. */
export function integerProblem(value: unknown, min: number): string | undefined {
  if (typeof value !== "number") return `must be an integer ≥ ${min}, got ${value === null ? "null" : typeof value}`;
  if (!Number.isSafeInteger(value) || value < min) return `must be an integer ≥ ${min}, got ${value}`;
  return undefined;
}

/**
 * Checks a constructor or builder option (a programming error when wrong) and returns it: TypeError unless it is
 * a number, RangeError unless it is a safe integer ≥ `min`; the message starts with the option's `name`.
 */
export function integerOption(name: string, value: unknown, min: number): number {
  const problem = integerProblem(value, min);
  if (problem === undefined) return value as number;
  throw typeof value === "number" ? new RangeError(`${name} ${problem}`) : new TypeError(`${name} ${problem}`);
}

/**
 * Checks a setting that arrives as data (a config, load arguments, a request) and returns it: InferenceError
 * VALIDATION naming `field` unless it is a safe integer ≥ `min`.
 */
export function integerSetting(field: string, value: unknown, min: number): number {
  const problem = integerProblem(value, min);
  if (problem !== undefined) throw new InferenceError("VALIDATION", `${field}: ${problem}`, { field });
  return value as number;
}
