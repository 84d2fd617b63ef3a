#!/usr/bin/env node
// The `actorlm` command line.
import { InferenceError } from "@actorlm/runtime";
import { Command } from "commander";
import { version } from "../../package.json";
import { benchCommand } from "./bench.js";
import { chatCommand } from "./chat.js";
import { downloadCommand } from "./download.js";
import { generateCommand } from "./generate.js";
import { perplexityCommand } from "./perplexity.js";
import { serveCommand } from "./serve.js";

// A reader that goes away (`actorlm generate … | head`) ends the program quietly instead of crashing on EPIPE;
// any other output error (a full disk, …) is reported like every other failure, without a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  process.stderr.write(`actorlm: ${error.message}\n`);
  process.exit(1);
});

const program = new Command("actorlm")
  .description("run language models on Node.js")
  .version(version, "-V, --version", "print the version")
  .showHelpAfterError()
  .addCommand(generateCommand())
  .addCommand(perplexityCommand())
  .addCommand(benchCommand())
  .addCommand(serveCommand())
  .addCommand(chatCommand())
  .addCommand(downloadCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  const code = InferenceError.is(error) ? `${error.code}: ` : "";
  process.stderr.write(`actorlm: ${code}${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
