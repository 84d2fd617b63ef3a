import { readFileSync } from "node:fs";
import { defineConfig, type Options } from "tsup";

/** A package's runtime dependencies: left to node_modules, never bundled. */
function dependencies(name: string): string[] {
  const manifest = JSON.parse(readFileSync(`packages/${name}/package.json`, "utf8")) as { dependencies?: Record<string, string> };
  return Object.keys(manifest.dependencies ?? {});
}

/** One build per package: ESM + CJS + .d.ts, its dependencies and sibling packages kept external. */
function pkg(name: string, entry: Record<string, string>, extra: Options = {}): Options {
  return {
    name,
    entry,
    outDir: `packages/${name}/dist`,
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    shims: true,
    keepNames: true,
    target: "node20",
    platform: "node",
    external: [/^@actorlm\//, ...dependencies(name)],
    tsconfig: "tsconfig.build.json",
    ...extra,
  };
}

const all = [
  pkg("runtime", {
    index: "packages/runtime/src/index.ts",
    "model-worker": "packages/runtime/src/worker/model-worker.ts",
    "pool-worker": "packages/runtime/src/worker/pool-worker.ts",
  }),
  pkg("tensor", {
    index: "packages/tensor/src/index.ts",
    "wasm-thread": "packages/tensor/src/wasm/thread.ts",
  }),
  // gpu.js (and gpu-mock.js, which names gpu.js as a peer) are bundled in, not dependencies of @actorlm/gpu: installed,
  // gpu.js would bring its own unused webgpu@0.2.9 (84 MB) and its optional `gl` addon, whose install script downloads
  // or compiles a binary. Its `require`s of `gl` (absent: gpu.js skips headless-gl), `os` and `worker_threads` need a
  // real `require` in the ESM build.
  pkg("gpu", { index: "packages/gpu/src/index.ts", "gpu-thread": "packages/gpu/src/gpu-thread.ts", "gpu-probe": "packages/gpu/src/probe.ts" }, {
    banner: ({ format }) => (format === "esm" ? { js: 'import { createRequire as __actorlmRequire } from "node:module"; const require = __actorlmRequire(import.meta.url);' } : {}),
  }),
  pkg("llm", {
    index: "packages/llm/src/index.ts",
    "encode-task": "packages/llm/src/tokenize/encode-task.ts",
    "grammar-task": "packages/llm/src/grammar/grammar-task.ts",
    "grammar-thread": "packages/llm/src/grammar/grammar-thread.ts",
  }),
  pkg("server", { index: "packages/server/src/index.ts", cli: "packages/server/src/cli/main.ts" }),
];

// ACTORLM_PKG=runtime,llm builds only those packages (handy while working on one).
const only = process.env.ACTORLM_PKG?.split(",");
export default defineConfig(only ? all.filter((o) => only.includes(o.name ?? "")) : all);
