/**
 * Model architectures, registered by `model_type`. Loading code asks the registry, never switches on names:
 * `loadModel` reads config.json once, picks the architecture by its model_type, normalizes the config with
 * that architecture's parser and hands the result to its loader.
 */
import { join } from "node:path";
import type { GgmlTypeName, WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import { ggufDefaultFormat, ggufNearestFormat, isGgufModel, openGgufModel } from "../gguf/model-file.js";
import { readJsonFile } from "../json-file.js";
import { bitnetArchitecture } from "./bitnet/model.js";
import type { CausalLM, ModelLoadOptions } from "./causal-lm.js";
import { LLAMA_MODEL_TYPES, parseLlamaConfig, type LlamaConfig } from "./config.js";
import { gemma3Architecture } from "./gemma3.js";
import { gpt2Architecture } from "./gpt2.js";
import { Llama } from "./llama/model.js";
import { mistralArchitecture } from "./mistral.js";
import { phi3Architecture } from "./phi3.js";
import { qwen2Architecture } from "./qwen2.js";
import { qwen3Architecture } from "./qwen3.js";

/** One architecture: the `model_type` values it handles, its config parser and its loader. */
export interface ModelArchitecture<C = LlamaConfig, M extends CausalLM = Llama> {
  readonly name: string;
  readonly modelTypes: readonly string[];
  /** Normalize a parsed config.json (throws MODEL_LOAD on anything unsupported); `source` names the file. */
  parseConfig(raw: unknown, source?: string): C;
  /** Load the weights in `dir` for a config `parseConfig` returned. */
  load(dir: string, config: C, options: ModelLoadOptions): Promise<M>;
}

/** The Llama (Llama 2/3, TinyLlama, SmolLM, …). */
export const llamaArchitecture: ModelArchitecture = {
  name: "llama",
  modelTypes: Object.keys(LLAMA_MODEL_TYPES),
  parseConfig: parseLlamaConfig,
  load: (dir, config, options) => Llama.load(dir, config, options),
};

const registry = new Map<string, ModelArchitecture<unknown, CausalLM>>();

/** Make an architecture available for its model types (later registrations replace earlier ones). */
export function registerArchitecture<C, M extends CausalLM>(arch: ModelArchitecture<C, M>): void {
  for (const t of arch.modelTypes) registry.set(t, arch as unknown as ModelArchitecture<unknown, CausalLM>);
}

registerArchitecture(llamaArchitecture);
registerArchitecture(mistralArchitecture);
registerArchitecture(qwen2Architecture);
registerArchitecture(qwen3Architecture);
registerArchitecture(gemma3Architecture);
registerArchitecture(phi3Architecture);
registerArchitecture(gpt2Architecture);
registerArchitecture(bitnetArchitecture);

/** The architecture registered for `modelType`; throws MODEL_LOAD naming it (and `source`, the config file) when none is. */
export function architectureFor(modelType: unknown, source?: string): ModelArchitecture<unknown, CausalLM> {
  const arch = typeof modelType === "string" ? registry.get(modelType) : undefined;
  if (!arch) {
    const where = source === undefined ? "" : `${source}: `;
    throw new LlmError("MODEL_LOAD", `${where}model_type ${JSON.stringify(modelType)} is not supported (registered: ${[...registry.keys()].join(", ")})`, { file: source });
  }
  return arch;
}

/** A loaded model with the architecture that loaded it and its config.json as parsed (for the tokenizer's ids). */
export interface LoadedModel {
  readonly architecture: ModelArchitecture<unknown, CausalLM>;
  readonly rawConfig: Readonly<Record<string, unknown>>;
  readonly model: CausalLM;
  /** The format the matrices were stored in (the one asked for; for a GGUF file given none, the file's own). */
  readonly format: WeightFormat;
  /** For a GGUF file: its `general.architecture` and its matrices' tensor types, with how many of each. */
  readonly gguf?: { readonly architecture: string; readonly tensorTypes: Readonly<Partial<Record<GgmlTypeName, number>>> };
}

/**
 * Load the model in `dir`: config.json is read and parsed once, then handed to its architecture's loader. `dir` may
 * be a GGUF file instead: its metadata stands for config.json and its tensors for the safetensors (see `gguf/`); with
 * no `format` given its matrices keep the format nearest to their own type.
 */
export async function loadModel(dir: string, options: Omit<ModelLoadOptions, "format"> & { readonly format?: WeightFormat }): Promise<LoadedModel> {
  if (isGgufModel(dir)) {
    const gguf = openGgufModel(dir, options.onProgress);
    try {
      const architecture = architectureFor(gguf.rawConfig.model_type, dir);
      const config = architecture.parseConfig(gguf.rawConfig, dir);
      let format = options.format ?? ggufDefaultFormat(gguf.tensorTypes);
      // kernels that store only float formats (the gpu backend) get the file's quantized blocks as float16
      if (options.format === undefined && !options.kernels.supports("matmul", format)) format = "float16";
      // given no format, each matrix keeps the one nearest its own type (a Q6_K head beside Q4_0 layers: int8)
      const formatOf = (name: string): WeightFormat | undefined => {
        const type = gguf.source.ggufType(name);
        const nearest = type === undefined ? undefined : ggufNearestFormat(type);
        return nearest !== undefined && options.format === undefined && options.kernels.supports("matmul", nearest) ? nearest : undefined;
      };
      const model = await architecture.load(dir, config, { ...options, format, source: gguf.source, formatOf }).catch((e: unknown) => {
        throw gguf.source.nameTensors(e);
      });
      return { architecture, rawConfig: gguf.rawConfig, model, format, gguf: { architecture: gguf.architecture, tensorTypes: gguf.tensorTypes } };
    } finally {
      gguf.source.close();
    }
  }
  const path = join(dir, "config.json");
  const rawConfig = await readJsonFile(path);
  const architecture = architectureFor(modelTypeOf(rawConfig, path), path);
  const config = architecture.parseConfig(rawConfig, path);
  const format = options.format ?? "float32";
  const model = await architecture.load(dir, config, { ...options, format });
  return { architecture, rawConfig: rawConfig as Record<string, unknown>, model, format };
}

function modelTypeOf(raw: unknown, path: string): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new LlmError("MODEL_LOAD", `${path}: is not a JSON object`, { file: path });
  }
  return (raw as { model_type?: unknown }).model_type;
}
