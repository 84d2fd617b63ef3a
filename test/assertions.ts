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
