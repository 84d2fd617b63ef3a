/** The HTTP layer's error catalogue: one status per code, in step with the README's table; the two error shapes. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ApiError, HTTP_ERROR_CODES, HTTP_ERROR_STATUS, openAiErrorBody, tgiErrorBody } from "@actorlm/server";
import { describe, expect, it } from "vitest";
import { ROOT } from "../generation/helpers.js";

describe("HTTP error catalogue", () => {
  it("has one status per code, and agrees with the table in README.md", () => {
    expect(Object.keys(HTTP_ERROR_STATUS).sort()).toEqual([...HTTP_ERROR_CODES].sort());
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Errors"), readme.indexOf("### Metrics"));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual({ ...HTTP_ERROR_STATUS });
  });

  it("renders each API's shape", () => {
    const error = new ApiError("VALIDATION", "top_p: must be ≤ 1", "top_p");
    expect(openAiErrorBody(error)).toEqual({ error: { message: "top_p: must be ≤ 1", type: "invalid_request_error", param: "top_p", code: "VALIDATION" } });
    expect(tgiErrorBody(error)).toEqual({ error: "top_p: must be ≤ 1", error_type: "validation", code: "VALIDATION", param: "top_p" });
    expect(openAiErrorBody(new ApiError("OVERLOADED", "busy")).error.type).toBe("rate_limit_error");
    expect(tgiErrorBody(new ApiError("WORKER_CRASHED", "gone")).error_type).toBe("generation");
    expect(new ApiError("UNAUTHORIZED", "x").status).toBe(401);
    expect(ApiError.from(new Error("boom"))).toMatchObject({ code: "INTERNAL", status: 500 });
  });
});
