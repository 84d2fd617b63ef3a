/** EMBEDDED_MODEL_DIR names the repository's models/kjv-llama from the sources and from both builds. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EMBEDDED_MODEL_DIR as fromSource } from "../../packages/llm/src/embedded-model.js";
import { EMBEDDED_MODEL_DIR as fromEsmBuild } from "@actorlm/llm";
import { EMBEDDED_MODEL_DIR as fromServer } from "@actorlm/server";

const ROOT = join(import.meta.dirname, "../..");

describe("EMBEDDED_MODEL_DIR", () => {
  it("is models/kjv-llama at the repository root, whichever build defines it", () => {
    const want = join(ROOT, "models/kjv-llama");
    const fromCjsBuild = (createRequire(import.meta.url)("@actorlm/llm") as { EMBEDDED_MODEL_DIR: string }).EMBEDDED_MODEL_DIR;
    expect(fromSource).toBe(want);
    expect(fromEsmBuild).toBe(want);
    expect(fromCjsBuild).toBe(want);
    expect(fromServer).toBe(want);
    expect(existsSync(join(want, "config.json"))).toBe(true);
  });
});
