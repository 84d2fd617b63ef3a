/**
 * EMBEDDED_MODEL_DIR names the @actorlm/kjv-llama package (packages/kjv-llama in the repository, which models/kjv-llama
 * links to) from the sources and from both builds. From installed tarballs: test/consumer/run.mjs.
 */
import { existsSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EMBEDDED_MODEL_DIR as fromSource } from "../../packages/llm/src/embedded-model.js";
import { EMBEDDED_MODEL_DIR as fromEsmBuild } from "@actorlm/llm";
import { EMBEDDED_MODEL_DIR as fromServer } from "@actorlm/server";

const ROOT = join(import.meta.dirname, "../..");

describe("EMBEDDED_MODEL_DIR", () => {
  it("is the @actorlm/kjv-llama package's directory, whichever build defines it", () => {
    const want = join(ROOT, "packages/kjv-llama");
    const fromCjsBuild = (createRequire(import.meta.url)("@actorlm/llm") as { EMBEDDED_MODEL_DIR: string }).EMBEDDED_MODEL_DIR;
    expect(fromSource).toBe(want);
    expect(fromEsmBuild).toBe(want);
    expect(fromCjsBuild).toBe(want);
    expect(fromServer).toBe(want);
    expect(existsSync(join(want, "config.json"))).toBe(true);
    expect(realpathSync(join(ROOT, "models/kjv-llama"))).toBe(want);
  });
});
