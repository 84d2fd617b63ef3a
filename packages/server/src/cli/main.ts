#!/usr/bin/env node
// The `actorlm` command line. Exit codes: 0 done; 1 a failure while running (a model that cannot load, a worker that
// crashed, output that cannot be written); 2 a usage error (an unknown command or option, a missing or bad value, a
// value the engine refuses: VALIDATION), reported as one line and a hint to --help.
import { InferenceError } from "@actorlm/runtime";
import { Command, CommanderError } from "commander";
import { version } from "../../package.json";
import { benchCommand } from "./bench.js";
import { chatCommand } from "./chat.js";
import { downloadCommand } from "./download.js";
import { generateCommand } from "./generate.js";
import { perplexityCommand } from "./perplexity.js";
import { serveCommand } from "./serve.js";

const FAILURE = 1;
const USAGE = 2;

// A reader that goes away (`actorlm generate … | head`) ends the program quietly instead of crashing on EPIPE;
// any other output error (a full disk, …) is reported like every other failure, without a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  process.stderr.write(`actorlm: ${error.message}\n`);
  process.exit(FAILURE);
});

const program = new Command("actorlm")
  .description("run language models on Node.js")
  .version(version, "-V, --version", "print the version")
  .addCommand(generateCommand())
  .addCommand(perplexityCommand())
  .addCommand(benchCommand())
  .addCommand(serveCommand())
  .addCommand(chatCommand())
  .addCommand(downloadCommand());

for (const command of [program, ...program.commands]) reportUsageErrors(command);

let running: Command = program;
program.hook("preAction", (_, action) => {
  running = action;
});

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {                          // already reported (or help / version printed)
    process.exitCode = error.exitCode === 0 ? 0 : USAGE;
    return;
  }
  const usage = InferenceError.is(error, "VALIDATION");
  const message = error instanceof Error ? (usage ? inFlagTerms(error as InferenceError, running) : error.message) : String(error);
  const code = InferenceError.is(error) ? `${error.code}: ` : "";
  process.stderr.write(`actorlm: ${code}${message.replace(/\s*\n\s*/g, " ")}\n${usage ? hint(running) : ""}`);
  process.exitCode = usage ? USAGE : FAILURE;
});

/** Makes commander's errors on `command` one line and a hint (no help), and hands them to the catch above. */
function reportUsageErrors(command: Command): void {
  command
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`actorlm: ${text.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ")}\n${hint(command)}`),
    });
}

/** `Try 'actorlm generate --help'.` */
function hint(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null; c = c.parent) names.unshift(c.name());
  return `Try '${names.join(" ")} --help'.\n`;
}

/** The message of a VALIDATION error, naming the flag (`--max-tokens: …`) when its field is one of `command`'s. */
function inFlagTerms(error: InferenceError, command: Command): string {
  const option = command.options.find((o) => o.long !== undefined && o.attributeName() === error.field);
  return option !== undefined ? `${option.long}: ${error.detail}` : error.message;
}
