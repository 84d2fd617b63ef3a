// The CLI's shared flags: parsers for numeric values (a bad value is a usage error naming the flag's expectation),
// and the sampling flags every command that generates takes, under the same names (engine flags: model-options.ts).
import { validateRequest, type GenerateRequest } from "@actorlm/llm";
import { InvalidArgumentError, type Command } from "commander";

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

/** Parse a TCP port: an integer from 0 (any free port) to 65535. */
export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError(`expected a port from 0 to 65535 (0: any free port), got "${value}"`);
  return n;
}

/** Collect a repeatable string flag into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
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

/**
 * The sampling part of a request from the flags (unset flags left out), checked before any model loads: a value no
 * request may have is refused as the engine would refuse it (VALIDATION naming the field).
 */
export function samplingOf(flags: SamplingFlags): Omit<GenerateRequest, "prompt"> {
  const out: Omit<GenerateRequest, "prompt"> = {};
  if (flags.maxTokens !== undefined) out.maxTokens = flags.maxTokens;
  if (flags.temperature !== undefined) out.temperature = flags.temperature;
  if (flags.topP !== undefined) out.topP = flags.topP;
  if (flags.topK !== undefined) out.topK = flags.topK;
  if (flags.seed !== undefined) out.seed = flags.seed;
  if (flags.stop !== undefined) out.stop = flags.stop;
  validateRequest({ prompt: "-", ...out }, { maxSequenceLength: Infinity, maxStopSequences: Infinity });
  return out;
}
