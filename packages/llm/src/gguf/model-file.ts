/**
 * A GGUF file as a model: its metadata mapped onto the engine's architectures, its tensors under checkpoint names,
 * and its tokenizer files. The loading path asks {@link isGgufModel} and comes here instead of reading config.json
 * and safetensors from a directory; everything after (recipes, weight checks, formats) is shared.
 */
import { GgufError, GgufFile, isGgufFile, type GgmlTypeName, type GgufValue, type ProgressCallback, type WeightFormat } from "@actorlm/tensor";
import { statSync } from "node:fs";
import { LlmError } from "../errors.js";
import { ggufArchitecture, MetadataReader, type Metadata } from "./architectures.js";
import { ggufLoadError, MappedGgufSource } from "./source.js";
import { ggufTokenizerFiles, type TokenizerFiles } from "./tokenizer-files.js";

/** True when `path` is a GGUF file: a file named `*.gguf`, or any file that starts with GGUF's magic. */
export function isGgufModel(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
  } catch {
    return false;
  }
  return path.toLowerCase().endsWith(".gguf") || isGgufFile(path);
}

/** An opened GGUF model: its config.json, its tensors by checkpoint name, and what its weights are stored as. */
export interface GgufModel {
  readonly rawConfig: Record<string, unknown>;
  readonly source: MappedGgufSource;
  /** `general.architecture`. */
  readonly architecture: string;
  /** The tensor types of its matrices, with how many of each. */
  readonly tensorTypes: Readonly<Partial<Record<GgmlTypeName, number>>>;
}

/** Open `path` and map it (MODEL_LOAD naming the key or tensor the engine cannot use). */
export function openGgufModel(path: string, onProgress?: ProgressCallback): GgufModel {
  const file = openFile(path, onProgress);
  try {
    const meta = metadataOf(file);
    const { name, arch } = ggufArchitecture(meta);
    const rawConfig = arch.config(new MetadataReader(meta, name), (t) => (file.has(t) ? file.toFloat32(t) : undefined));
    const map = arch.tensors(rawConfig, (t) => file.has(t));
    for (const t of arch.refusedTensors ?? []) {
      if (file.has(t)) throw new LlmError("MODEL_LOAD", `${path}: tensor "${t}" (${name}): the RoPE frequency factors it holds are not supported`, { file: path });
    }
    const ids = tokenizerIds(meta);
    const tensorTypes: Partial<Record<GgmlTypeName, number>> = {};
    for (const t of file.tensors) if (t.dims.length === 2) tensorTypes[t.type.name] = (tensorTypes[t.type.name] ?? 0) + 1;
    return { rawConfig: { ...rawConfig, ...ids }, source: new MappedGgufSource(file, map), architecture: name, tensorTypes };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** The tokenizer files of the GGUF model at `path` (reads its header only). */
export function ggufModelTokenizer(path: string): TokenizerFiles {
  const file = openFile(path);
  try {
    return ggufTokenizerFiles(metadataOf(file));
  } finally {
    file.close();
  }
}

/**
 * The storage format a GGUF model's matrices load as when `dtype` is not given: the one that holds its most common
 * matrix type without loss where one does — F32 float32, F16 float16, BF16 bfloat16, Q8_0 int8 and Q4_0 q4 (each
 * block exactly, for blocks as llama.cpp's quantizers write them) — and int8 for the other 4-, 5- and 6-bit types
 * (their values land on int8 steps up to 1/254 of a block's largest; see README).
 */
export function ggufDefaultFormat(tensorTypes: Readonly<Partial<Record<GgmlTypeName, number>>>): WeightFormat {
  let best: GgmlTypeName = "F32", most = 0;
  for (const [type, n] of Object.entries(tensorTypes) as [GgmlTypeName, number][]) if (n > most) [best, most] = [type, n];
  return ggufNearestFormat(best);
}

/** The storage format nearest to a tensor type (see {@link ggufDefaultFormat}). */
export function ggufNearestFormat(type: GgmlTypeName): WeightFormat {
  switch (type) {
    case "F32": return "float32";
    case "F16": return "float16";
    case "BF16": return "bfloat16";
    case "Q4_0": return "q4";
    default: return "int8";
  }
}

/** Opens and validates `path`; the reader's errors as MODEL_LOAD LlmErrors. */
function openFile(path: string, onProgress?: ProgressCallback): GgufFile {
  try {
    return GgufFile.open(path, { onProgress });
  } catch (e) {
    throw e instanceof GgufError ? ggufLoadError(e) : e;
  }
}

function metadataOf(file: GgufFile): Metadata {
  return { path: file.path, get: (key: string): GgufValue | undefined => file.metadata.get(key) };
}

/** bos / eos ids as config.json gives them, when the tokenizer metadata names them. */
function tokenizerIds(m: Metadata): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const bos = m.get("tokenizer.ggml.bos_token_id");
  if (typeof bos === "number") out.bos_token_id = bos;
  const enders = ["eos", "eot", "eom"].map((k) => m.get(`tokenizer.ggml.${k}_token_id`)).filter((v): v is number => typeof v === "number");
  if (enders.length > 0) out.eos_token_id = enders;
  return out;
}
