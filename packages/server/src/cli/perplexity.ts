// `actorlm perplexity`: teacher-forced perplexity of a text file under a model.
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { InferenceBuilder, InferenceError } from "@actorlm/runtime";
import { perplexityHandler } from "@actorlm/llm";
import { Command } from "commander";
import { addModelOptions, modelArgs, type ModelFlags } from "./model-options.js";
import { startModel } from "./start-model.js";

interface PerplexityFlags extends ModelFlags {
  file: string;
  json?: boolean;
}

/** The `perplexity` command. */
export function perplexityCommand(): Command {
  return addModelOptions(new Command("perplexity")
    .description("teacher-forced perplexity of a text file (scored with bos)"))
    .requiredOption("--file <path>", "UTF-8 text file to score")
    .option("--json", "print one JSON object")
    .action((flags: PerplexityFlags) => runPerplexity(flags));
}

/** The text of `path`; VALIDATION naming the file (and the system's reason, e.g. ENOENT, EISDIR) when it cannot be read. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : "cannot be read";
    throw new InferenceError("VALIDATION", `--file ${path}: ${why} (${code ?? String(cause)})`, { cause });
  }
}

async function runPerplexity(flags: PerplexityFlags): Promise<void> {
  const text = await readTextFile(flags.file);
  await using host = await startModel(modelArgs(flags), true, flags.download);
  await using inference = await new InferenceBuilder().withModel(host).build(perplexityHandler);

  const t0 = performance.now();
  const [result] = await inference.infer({ text }).run();
  const ms = Math.round(performance.now() - t0);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ n_tokens: result.nTokens, mean_nll: result.meanNll, ppl: result.ppl, ms })}\n`);
  } else {
    process.stdout.write(`perplexity ${result.ppl.toFixed(3)} (mean NLL ${result.meanNll.toFixed(6)} over ${result.nTokens} tokens, ${ms} ms)\n`);
  }
}
