// Every code sample in the READMEs runs as written: each ```ts / ```js block is written to a file in the
// repository (so `@actorlm/*` resolve as for an application) and run with node + tsx from another directory (so
// a path relative to the repository would fail); it must exit 0.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "../..");
const OUT = join(ROOT, "test/.readme-samples");
const READMES = [
  "README.md", "packages/runtime/README.md", "packages/tensor/README.md", "packages/llm/README.md", "packages/server/README.md",
];
/** tsx's loader by URL: `--import tsx` would resolve against the working directory, which is elsewhere here. */
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;

/** The runnable samples of a README: [name, language, code]. */
function samples(readme: string): [string, "ts" | "js", string][] {
  const text = readFileSync(join(ROOT, readme), "utf8");
  return [...text.matchAll(/^```(ts|js)\n([\s\S]*?)^```$/gm)].map((m, i) => [`${readme} sample ${i + 1}`, m[1] as "ts" | "js", m[2]]);
}

mkdirSync(OUT, { recursive: true });
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

describe("README samples", () => {
  const all = READMES.flatMap(samples);

  it("there are samples to run in each README", () => {
    for (const readme of READMES) expect(all.some(([name]) => name.startsWith(readme)), readme).toBe(true);
  });

  it.each(all)("%s runs as written", async (name, lang, code) => {
    expect(code).not.toMatch(/^\s*(\.\.\.|…)\s*$/m); // no elided bodies
    const file = join(OUT, `${name.replace(/[^a-z0-9]+/gi, "-")}.${lang === "ts" ? "ts" : "mjs"}`);
    writeFileSync(file, code);
    const { stdout } = await run(process.execPath, ["--import", TSX, file], { cwd: tmpdir(), timeout: 60_000 });
    expect(stdout.length).toBeGreaterThan(0);
  });
});
