// The CLI's shared flags: parsers for numeric values (a bad value is a usage error naming the flag's expectation),
// and the engine and sampling flags every command that loads a model or generates takes, under the same names.
import type { GenerateRequest } from "@actorlm/llm";
import { InvalidArgumentError, type Command } from "commander";
import type { EngineOptions } from "../models.js";

/** Parse a finite number. */
export function number(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** Parse an integer. */
export function integer(value: string): number {
  const n = number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return n;
}

/** Collect a repeatable string flag into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Engine flags every command that loads a model takes. */
export interface EngineFlags {
  dtype?: string;
  device?: string;
  threads?: number;
  maxSequenceLength?: number;
  flashAttention?: boolean;
}

/** Adds the engine flags (--dtype, --device, --threads, --max-sequence-length, --flash-attention) to `command`. */
export function addEngineOptions(command: Command): Command {
  return command
    .option("--dtype <type>", "compute data type (float32; others are refused by name until implemented)")
    .option("--device <device>", "cpu, gpu or cuda:N (cpu; others are refused by name until implemented)")
    .option("--threads <n>", "kernel threads (default: automatic)", integer)
    .option("--max-sequence-length <n>", "longest prompt + completion in tokens (default: the model's)", integer)
    .option("--flash-attention", "use a fused attention kernel where the backend has one");
}

/** The engine settings the flags ask for (unset flags left out, so the engine's defaults apply). */
export function engineOf(flags: EngineFlags): EngineOptions {
  const out: EngineOptions = {};
  if (flags.dtype !== undefined) out.dtype = flags.dtype as EngineOptions["dtype"];
  if (flags.device !== undefined) out.device = flags.device as EngineOptions["device"];
  if (flags.threads !== undefined) out.threads = flags.threads;
  if (flags.maxSequenceLength !== undefined) out.maxSequenceLength = flags.maxSequenceLength;
  if (flags.flashAttention !== undefined) out.flashAttention = flags.flashAttention;
  return out;
}

/** Sampling flags of the commands that generate. */
export interface SamplingFlags {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
}

/** Adds the sampling flags (--max-tokens, --temperature, --top-p, --top-k, --seed, --stop) to `command`. */
export function addSamplingOptions(command: Command): Command {
  return command
    .option("--max-tokens <n>", "most new tokens", integer)
    .option("--temperature <t>", "sampling temperature, 0 = greedy", number)
    .option("--top-p <p>", "nucleus sampling mass in (0, 1]", number)
    .option("--top-k <k>", "keep the k most likely tokens", integer)
    .option("--seed <s>", "seed for reproducible sampling", integer)
    .option("--stop <s>", "stop sequence (repeatable)", collect);
}

/** The sampling part of a request from the flags (unset flags left out). */
export function samplingOf(flags: SamplingFlags): Omit<GenerateRequest, "prompt"> {
  const out: Omit<GenerateRequest, "prompt"> = {};
  if (flags.maxTokens !== undefined) out.maxTokens = flags.maxTokens;
  if (flags.temperature !== undefined) out.temperature = flags.temperature;
  if (flags.topP !== undefined) out.topP = flags.topP;
  if (flags.topK !== undefined) out.topK = flags.topK;
  if (flags.seed !== undefined) out.seed = flags.seed;
  if (flags.stop !== undefined) out.stop = flags.stop;
  return out;
}
