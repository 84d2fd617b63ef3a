// Assertions shared by the test suites.
import { InferenceError, type ErrorCode } from "@actorlm/runtime";
import { expect } from "vitest";

/** Awaits `promise`, expects it to reject with an InferenceError of `code`, and returns that error. */
export async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<InferenceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ${code} rejection`).toBeInstanceOf(InferenceError);
  expect((error as InferenceError).code, (error as Error).message).toBe(code);
  return error as InferenceError;
}

/** Runs `fn`, expects it to throw an InferenceError of VALIDATION, and returns the field it names. */
export function validationField(fn: () => unknown): string | undefined {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, "expected a VALIDATION error").toBeInstanceOf(InferenceError);
  expect((error as InferenceError).code, (error as Error).message).toBe("VALIDATION");
  return (error as InferenceError).field;
}
