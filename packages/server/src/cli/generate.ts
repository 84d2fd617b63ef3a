// `actorlm generate`: stream a completion of --prompt from a model to stdout (or one JSON object with --json), then,
// when stderr is a terminal, one summary line there (tokens, time, tokens/s).
import { performance } from "node:perf_hooks";
import { InferenceBuilder } from "@actorlm/runtime";
import { requestLimits, tokenizeRequest, tokenizedStreamingHandler, validateRequest, type GenerateRequest } from "@actorlm/llm";
import { Command } from "commander";
import { addModelOptions, modelArgs, type ModelFlags } from "./model-options.js";
import { addSamplingOptions, samplingOf, type SamplingFlags } from "./options.js";
import { startModel } from "./start-model.js";

interface GenerateFlags extends ModelFlags, SamplingFlags {
  prompt: string;
  json?: boolean;
}

/** The `generate` command. */
export function generateCommand(): Command {
  const command = addModelOptions(new Command("generate")
    .description("generate a completion of a prompt, streamed to stdout"))
    .requiredOption("--prompt <text>", "text to continue");
  return addSamplingOptions(command)
    .option("--json", "print one JSON object instead of streaming text")
    .action((flags: GenerateFlags) => runGenerate(flags));
}

async function runGenerate(flags: GenerateFlags): Promise<void> {
  const request: GenerateRequest = { prompt: flags.prompt, ...samplingOf(flags) };
  const t0 = performance.now();
  await using host = await startModel(modelArgs(flags), true, flags.download);
  await using inference = await new InferenceBuilder().withModel(host).build(tokenizedStreamingHandler);
  const loaded = performance.now();

  // validated and tokenized once, here: the ids go to the engine and into --json's prompt_ids
  const info = await host.call("info");
  const tokenized = await tokenizeRequest(validateRequest(request, requestLimits(info)), info.model);
  const job = inference.infer(tokenized).spawn();
  const ids: number[] = [];
  let text = "";
  let finishReason = "length";
  let firstToken: number | undefined;
  for await (const out of job.stream) {
    firstToken ??= performance.now();
    ids.push(out.tokenId);
    text += out.token;
    if (out.finishReason) finishReason = out.finishReason;
    if (!flags.json) process.stdout.write(out.token);
  }
  await job.join();
  const done = performance.now();

  const decodeMs = firstToken === undefined ? 0 : done - firstToken;
  const timings = {
    load_ms: round(loaded - t0),
    prompt_ms: round((firstToken ?? done) - loaded),
    decode_ms: round(decodeMs),
    tokens_per_second: ids.length > 1 ? round(((ids.length - 1) * 1000) / decodeMs) : null,
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ prompt_ids: tokenized.promptIds, ids, text, finish_reason: finishReason, timings })}\n`);
  } else {
    process.stdout.write("\n");
  }
  if (process.stderr.isTTY === true) process.stderr.write(`${summary(ids.length, timings)}\n`);
}

/** `40 tokens in 1.26 s: 31.7 tokens/s (first token after 52 ms, load 1.21 s)`. */
function summary(tokens: number, t: { load_ms: number; prompt_ms: number; decode_ms: number; tokens_per_second: number | null }): string {
  const rate = t.tokens_per_second === null ? "" : `: ${t.tokens_per_second.toFixed(1)} tokens/s`;
  const total = (t.prompt_ms + t.decode_ms) / 1000;
  return `${tokens} token${tokens === 1 ? "" : "s"} in ${total.toFixed(2)} s${rate} (first token after ${Math.round(t.prompt_ms)} ms, load ${(t.load_ms / 1000).toFixed(2)} s)`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
