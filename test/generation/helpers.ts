/** Shared by the end-to-end generation, model-file and CLI tests: paths, reference data, a hosted model, job helpers. */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InferenceBuilder, ModelHost, type Inference, type Job } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, streamingHandler, type GenerateRequest, type LlmEngineArgs, type TokenOutput } from "@actorlm/llm";
import { expect } from "vitest";

export const ROOT = join(import.meta.dirname, "../..");
/** The embedded reference model. */
export const MODEL = EMBEDDED_MODEL_DIR;
/** The built CLI entry point. */
export const CLI = join(ROOT, "packages/server/dist/cli.js");

/** How a child process ended: its exit code (-1 when it was killed) and what it printed. */
export interface CommandRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args` from the repository root (killed after `timeout` ms); never rejects: the exit code is in the result. */
export function runCommand(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CommandRun> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, env: options.env, encoding: "utf8", timeout: options.timeout ?? 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

/**
 * Starts the built CLI with `args` on a pseudo-terminal (util-linux `script`). The command is `exec`ed in the shell
 * `script` starts, so a Ctrl-C typed there reaches node alone (dash, as /bin/sh, would otherwise die of it itself).
 * `redirect` (shell redirections, e.g. `2>/tmp/err`) sends stdout or stderr elsewhere than the terminal.
 */
export function spawnCliOnPty(args: readonly string[], options: { env?: NodeJS.ProcessEnv; redirect?: string } = {}) {
  const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const command = `exec ${[process.execPath, CLI, ...args].map(quote).join(" ")}${options.redirect ? ` ${options.redirect}` : ""}`;
  return spawn("script", ["-qfec", command, "/dev/null"], { cwd: ROOT, env: options.env, stdio: ["pipe", "pipe", "pipe"] });
}

/** Runs the built CLI with `args` (see {@link runCommand}). */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [CLI, ...args], options);
}

/** One reference prompt: what transformers computed (float32, CPU) from the same weights. */
export interface RefPrompt {
  prompt: string;
  ids: number[];
  greedy_ids: number[];
  greedy_text: string;
}

/** test/fixtures/kjv-llama.json */
export const REF = JSON.parse(readFileSync(join(ROOT, "test/fixtures/kjv-llama.json"), "utf8")) as {
  prompts: RefPrompt[];
  heldout0: { n_tokens: number; mean_nll: number; ppl: number };
};

/** Held-out chapter 0 (the perplexity reference text). */
export const CHAPTER0 = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/heldout-chapters.json"), "utf8")) as { chapters: string[] }).chapters[0];

/** A model host plus a streaming inference over it. */
export interface Hosted {
  host: ModelHost<LlmEngine>;
  inference: Inference<GenerateRequest, TokenOutput, never>;
  close(): Promise<void>;
}

/** Load the model (or `args`) in a real worker and build the streaming handler over it. */
export async function hostModel(args: Partial<LlmEngineArgs> = {}): Promise<Hosted> {
  const host = ModelHost.create(LlmEngine, { model: MODEL, ...args });
  const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
  return {
    host,
    inference,
    async close() {
      await inference.close();
      await host.close();
    },
  };
}

/** Every output of `job`, read through its stream, after `join()` resolved. */
export async function drain<O>(job: Job<O>): Promise<O[]> {
  const outputs: O[] = [];
  for await (const output of job.stream) outputs.push(output);
  await job.join();
  return outputs;
}

/** Ids, text and finish reason of a finished stream of outputs (and checks the indices run 0..n-1). */
export function summarize(outputs: readonly TokenOutput[]): { ids: number[]; text: string; finishReason: string | undefined } {
  expect(outputs.map((o) => o.index)).toEqual(outputs.map((_, i) => i));
  outputs.slice(0, -1).forEach((o) => expect(o.finishReason).toBeUndefined());
  return { ids: outputs.map((o) => o.tokenId), text: outputs.map((o) => o.token).join(""), finishReason: outputs.at(-1)?.finishReason };
}

export { rejection } from "../assertions.js";

/** Token ids of `request` run alone on `model`. */
export async function alone(model: Hosted, request: GenerateRequest): Promise<number[]> {
  return (await drain(model.inference.infer(request).spawn())).map((o) => o.tokenId);
}

/** Reads `job`'s stream to its end on its own task; `onOutput` sees each output as it arrives. */
export function reader(job: Job<TokenOutput>, onOutput: (out: TokenOutput) => void = () => undefined): Promise<number[]> {
  return (async () => {
    const ids: number[] = [];
    for await (const out of job.stream) {
      ids.push(out.tokenId);
      onOutput(out);
    }
    await job.join();
    return ids;
  })();
}

/**
 * Starts request 0, then each next request once the one before it has streamed its first output (so each prompt
 * is prefilled beside the decode steps of those already running); resolves with every request's token ids.
 */
export async function staggered(model: Hosted, requests: readonly GenerateRequest[]): Promise<number[][]> {
  const runs: Promise<number[]>[] = [];
  const startNext = (): void => {
    const k = runs.length;
    if (k >= requests.length) return;
    let triggered = false;
    runs.push(reader(model.inference.infer(requests[k]).spawn(), (out) => {
      if (triggered) return;
      triggered = true;
      startNext();
    }));
  };
  startNext();
  // request k + 1 starts while request k streams, before its reader resolves: awaiting them in order finds each
  const ids: number[][] = [];
  for (let k = 0; k < requests.length; k++) ids.push(await runs[k]);
  return ids;
}
