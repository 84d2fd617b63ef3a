// Where the model shipped with actorlm lives, for the CLI's default, the examples, tests and benchmarks.
import { createRequire } from "node:module";
import { dirname } from "node:path";

/**
 * The embedded model: the directory of the `@actorlm/kjv-llama` package (a dependency of this one, its files in
 * Hugging Face layout at the package's root), resolved as Node resolves packages, so it is found wherever the
 * packages are installed (in the repository: `packages/kjv-llama`, through the workspace link).
 */
export const EMBEDDED_MODEL_DIR: string = dirname(createRequire(import.meta.url).resolve("@actorlm/kjv-llama/package.json"));
