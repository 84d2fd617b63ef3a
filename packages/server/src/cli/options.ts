// Parsers for numeric CLI flags: a bad value is a usage error naming the flag's expectation.
import { InvalidArgumentError } from "commander";

/** Parse a finite number. */
export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** Parse an integer. */
export function integer(value: string): number {
  const n = number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return n;
}

/** Collect a repeatable string flag into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
