import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    // about a minute with both cores busy: .ci/run runs it as its own step (test/deploy/vitest.config.ts)
    exclude: [...configDefaults.exclude, "test/deploy/failover.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
