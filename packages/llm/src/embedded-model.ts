// Where the model shipped with the repository lives, for the CLI's default, the examples, tests and benchmarks.
import { fileURLToPath } from "node:url";

/**
 * The embedded model (`models/kjv-llama` at the repository root), as an absolute path. This file sits directly in
 * `packages/llm/src/` and is bundled into a file directly in `packages/llm/dist/`, so the same relative URL
 * resolves to the repository root from the sources (tests, tsx) and from the build.
 */
export const EMBEDDED_MODEL_DIR: string = fileURLToPath(new URL("../../../models/kjv-llama", import.meta.url));
