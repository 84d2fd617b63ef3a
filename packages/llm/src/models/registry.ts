/**
 * Model architectures, registered by `model_type`. Loading code asks the registry, never switches on names.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { LlmError } from "../errors.js";
import { parseLlamaConfig, type LlamaConfig } from "./config.js";
import { Llama, type LlamaLoadOptions } from "./llama/model.js";

/** One architecture: the `model_type` values it handles, its config parser and its loader. */
export interface ModelArchitecture<C = LlamaConfig, M = Llama> {
  readonly name: string;
  readonly modelTypes: readonly string[];
  /** Normalize a parsed config.json (throws MODEL_LOAD on anything unsupported). */
  parseConfig(raw: unknown, source?: string): C;
  /** Load the model from a directory. */
  load(dir: string, options?: LlamaLoadOptions): Promise<M>;
}

/** The Llama family (Llama 2/3, TinyLlama, SmolLM, Mistral without sliding window). */
export const llamaArchitecture: ModelArchitecture = {
  name: "llama",
  modelTypes: ["llama", "mistral"],
  parseConfig: parseLlamaConfig,
  load: (dir, options) => Llama.load(dir, options),
};

const registry = new Map<string, ModelArchitecture<unknown, unknown>>();

/** Make an architecture available for its model types (later registrations replace earlier ones). */
export function registerArchitecture<C, M>(arch: ModelArchitecture<C, M>): void {
  for (const t of arch.modelTypes) registry.set(t, arch as ModelArchitecture<unknown, unknown>);
}

registerArchitecture(llamaArchitecture);

/** The architecture registered for `modelType`; throws MODEL_LOAD naming it when none is. */
export function architectureFor(modelType: unknown): ModelArchitecture<unknown, unknown> {
  const arch = typeof modelType === "string" ? registry.get(modelType) : undefined;
  if (!arch) {
    throw new LlmError("MODEL_LOAD", `model_type ${JSON.stringify(modelType)} is not supported (registered: ${[...registry.keys()].join(", ")})`);
  }
  return arch;
}

/** The architecture for the model in `dir`, chosen by its config.json `model_type`. */
export async function architectureOfDir(dir: string): Promise<ModelArchitecture<unknown, unknown>> {
  const path = join(dir, "config.json");
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new LlmError("MODEL_LOAD", `${path}: cannot read config: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return architectureFor((raw as { model_type?: unknown } | null)?.model_type);
}
