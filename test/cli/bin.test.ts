/**
 * `npx actorlm` in the repository: npm links the committed bin shim (packages/server/bin/actorlm.js) at install,
 * so after `npm ci && npm run build` the command runs the built CLI without a download.
 */
import { lstatSync, readlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCommand } from "../generation/helpers.js";

const run = (command: string, args: string[]) => runCommand(command, args);

describe("the actorlm bin", () => {
  it("is linked in node_modules/.bin to the committed shim", () => {
    const link = join(ROOT, "node_modules/.bin/actorlm");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(resolve(join(ROOT, "node_modules/.bin"), readlinkSync(link))).toBe(join(ROOT, "node_modules/@actorlm/server/bin/actorlm.js"));
  });

  it("npx --no-install actorlm runs the CLI (no registry involved)", async () => {
    const version = await run("npx", ["--no-install", "actorlm", "--version"]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const help = await run("npx", ["--no-install", "actorlm", "--help"]);
    expect(help.stdout).toMatch(/Commands:[^]*generate[^]*perplexity[^]*serve[^]*chat/);
  });
});
