#!/usr/bin/env node
// The `actorlm` command: runs the built CLI (dist/cli.js, made by `npm run build`). This file is committed, so
// npm links the command at install time, before anything is built (a bin pointing into dist/ would not be).
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("actorlm: the CLI is not built yet; run `npm run build` first\n");
  process.exit(1);
}
await import(cli.href);
