/**
 * GGUF architectures (`general.architecture`) mapped onto the engine's: each entry turns the `{arch}.*` metadata
 * into the Hugging Face config.json the architecture's own parser reads (so every check and default is the one a
 * safetensors model gets), and names the checkpoint tensor each GGUF tensor stands for, with what llama.cpp's
 * converter changed on the way (see {@link TensorMapping}).
 */
import type { GgufValue } from "@actorlm/tensor";
import { LlmError } from "../errors.js";

/** How a GGUF tensor differs from the checkpoint tensor it stands for. */
export interface TensorMapping {
  /** The GGUF tensor's name. */
  readonly gguf: string;
  /**
   * Rows of each head were interleaved by llama.cpp's converter (`permute` in convert_hf_to_gguf.py, for the Llama's
   * rotary layout): heads of this many rows each, to be put back in rotate-half order.
   */
  readonly permuteHeads?: number;
  /** The converter stored this norm as 1 + w (Gemma): 1 is taken off again. */
  readonly minusOne?: boolean;
  /** The converter transposed a Conv1D weight (GPT-2): it is transposed back. */
  readonly transposed?: boolean;
}

/** Metadata read by key, with the file named in errors. */
export interface Metadata {
  readonly path: string;
  get(key: string): GgufValue | undefined;
}

/** A small tensor of the file read whole as float32 (RoPE factors), or undefined when the file lacks it. */
export type SmallTensor = (name: string) => Float32Array | undefined;

/** One GGUF architecture: its config.json and its tensor names. */
export interface GgufArchitecture {
  /** The Hugging Face config.json for this file's metadata (its `model_type` picks the engine's architecture). */
  config(m: MetadataReader, tensor: SmallTensor): Record<string, unknown>;
  /** Checkpoint tensor name → GGUF tensor, for every tensor the engine's recipe may ask for. */
  tensors(config: Record<string, unknown>, has: (gguf: string) => boolean): Map<string, TensorMapping>;
  /** GGUF tensors this engine cannot use; present in a file, refused by name (e.g. llama3 RoPE factors). */
  readonly refusedTensors?: readonly string[];
}

/** Typed access to `{arch}.*` keys, refusing (MODEL_LOAD naming the key) a missing or mistyped one. */
export class MetadataReader {
  constructor(private readonly m: Metadata, readonly arch: string) {}

  /** The file, for messages. */
  get path(): string {
    return this.m.path;
  }

  /** The value of `general.*` or `tokenizer.*` key `key` as stored, or undefined. */
  raw(key: string): GgufValue | undefined {
    return this.m.get(key);
  }

  /** The number at `{arch}.{key}`; `fallback` when absent (required when there is none). */
  number(key: string, fallback?: number): number {
    const full = `${this.arch}.${key}`;
    const v = this.m.get(full);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new LlmError("MODEL_LOAD", `${this.m.path}: metadata key "${full}" is missing`, { file: this.m.path });
    }
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new LlmError("MODEL_LOAD", `${this.m.path}: metadata key "${full}" must be a number, got ${JSON.stringify(v)}`, { file: this.m.path });
    }
    return v;
  }

  /** The positive integer at `{arch}.{key}`. */
  int(key: string, fallback?: number): number {
    const v = this.number(key, fallback);
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new LlmError("MODEL_LOAD", `${this.m.path}: metadata key "${this.arch}.${key}" must be a positive integer, got ${v}`, { file: this.m.path });
    }
    return v;
  }

  /** The string at `{arch}.{key}`, or undefined. */
  string(key: string): string | undefined {
    const v = this.m.get(`${this.arch}.${key}`);
    return typeof v === "string" ? v : undefined;
  }

  /** Refuses (MODEL_LOAD naming the file and `{arch}.{key}`) a value this engine cannot use. */
  refuse(key: string, why: string): never {
    throw new LlmError("MODEL_LOAD", `${this.m.path}: metadata key "${this.arch}.${key}" ${why}`, { file: this.m.path });
  }

  /** The value at `{arch}.{key}` is present. */
  has(key: string): boolean {
    return this.m.get(`${this.arch}.${key}`) !== undefined;
  }
}

/** The dims every Llama-style file gives, as config.json fields. */
function llamaDims(m: MetadataReader, vocabSize: number): Record<string, unknown> {
  const hidden = m.int("embedding_length");
  const heads = m.int("attention.head_count");
  const config: Record<string, unknown> = {
    vocab_size: vocabSize,
    hidden_size: hidden,
    intermediate_size: m.int("feed_forward_length"),
    num_hidden_layers: m.int("block_count"),
    num_attention_heads: heads,
    num_key_value_heads: m.int("attention.head_count_kv", heads),
    head_dim: m.int("attention.key_length", Math.floor(hidden / heads)),
    max_position_embeddings: m.int("context_length"),
    rms_norm_eps: m.number("attention.layer_norm_rms_epsilon"),
  };
  const keyLength = config.head_dim as number;
  if (m.int("attention.value_length", keyLength) !== keyLength) m.refuse("attention.value_length", `differs from the key length ${keyLength}: not supported`);
  config.rope_parameters = rope(m);
  return config;
}

/** `{arch}.rope.*` as rope_parameters (none, linear; others refused by name). */
function rope(m: MetadataReader): Record<string, unknown> {
  const theta = m.number("rope.freq_base", 10000);
  const type = m.string("rope.scaling.type") ?? "none";
  if (type === "none") return { rope_type: "default", rope_theta: theta };
  if (type === "linear") return { rope_type: "linear", rope_theta: theta, factor: m.number("rope.scaling.factor") };
  return m.refuse("rope.scaling.type", `is ${JSON.stringify(type)}: not supported (none, linear)`);
}

/** Per-layer names in the Llama layout: GGUF `blk.i.*` → `model.layers.i.*`. */
const LLAMA_LAYER: Readonly<Record<string, string>> = {
  "attn_norm.weight": "input_layernorm.weight",
  "attn_q.weight": "self_attn.q_proj.weight",
  "attn_k.weight": "self_attn.k_proj.weight",
  "attn_v.weight": "self_attn.v_proj.weight",
  "attn_output.weight": "self_attn.o_proj.weight",
  "attn_q.bias": "self_attn.q_proj.bias",
  "attn_k.bias": "self_attn.k_proj.bias",
  "attn_v.bias": "self_attn.v_proj.bias",
  "attn_output.bias": "self_attn.o_proj.bias",
  "attn_q_norm.weight": "self_attn.q_norm.weight",
  "attn_k_norm.weight": "self_attn.k_norm.weight",
  "ffn_norm.weight": "post_attention_layernorm.weight",
  "ffn_gate.weight": "mlp.gate_proj.weight",
  "ffn_up.weight": "mlp.up_proj.weight",
  "ffn_down.weight": "mlp.down_proj.weight",
};

/** The Llama layout's tensors, with `layer` naming per-layer tensors and `change` saying what the converter did. */
function layoutTensors(
  config: Record<string, unknown>, layer: Readonly<Record<string, string>>, outer: Readonly<Record<string, string>>,
  change: (gguf: string, suffix: string) => Omit<TensorMapping, "gguf"> = () => ({}),
): Map<string, TensorMapping> {
  const map = new Map<string, TensorMapping>();
  for (const [gguf, hf] of Object.entries(outer)) map.set(hf, { gguf, ...change(gguf, gguf) });
  const layers = config.num_hidden_layers ?? config.n_layer;
  for (let i = 0; i < (layers as number); i++) {
    for (const [suffix, hf] of Object.entries(layer)) {
      const gguf = `blk.${i}.${suffix}`;
      map.set(hf.includes("{i}") ? hf.replace("{i}", String(i)) : `model.layers.${i}.${hf}`, { gguf, ...change(gguf, suffix) });
    }
  }
  return map;
}

const LLAMA_OUTER = { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" };

/**
 * Llama 3.1 / 3.2 files carry their RoPE scaling as per-frequency divisors (`rope_freqs.weight`), as llama.cpp's
 * converter computes them from transformers' llama3 parameters. Those are found again — factor the largest divisor,
 * low_freq_factor 1, high_freq_factor 4, original context 8192, what every Llama 3.1 and 3.2 uses — and checked
 * against every divisor; other divisors are refused naming the tensor.
 */
function llama3Rope(m: MetadataReader, tensor: SmallTensor, config: Record<string, unknown>): void {
  const divisors = tensor("rope_freqs.weight");
  if (divisors === undefined) return;
  const rope = config.rope_parameters as { rope_theta: number; rope_type: string };
  const dim = m.int("rope.dimension_count", config.head_dim as number);
  const params = { factor: Math.max(...divisors), low: 1, high: 4, old: 8192 };
  const expected = Array.from({ length: dim / 2 }, (_, i) => {
    const wavelen = 2 * Math.PI * rope.rope_theta ** ((2 * i) / dim);
    if (wavelen < params.old / params.high) return 1;
    if (wavelen > params.old / params.low) return params.factor;
    const smooth = (params.old / wavelen - params.low) / (params.high - params.low);
    return 1 / ((1 - smooth) / params.factor + smooth);
  });
  const matches = rope.rope_type === "default" && divisors.length === expected.length && expected.every((e, i) => Math.abs(divisors[i] - e) <= 1e-4 * e);
  if (!matches) {
    throw new LlmError("MODEL_LOAD", `${m.path}: tensor "rope_freqs.weight" holds RoPE divisors that are not llama3 scaling's (factor ${params.factor}, low_freq_factor 1, high_freq_factor 4, original context 8192): not supported`, { file: m.path });
  }
  config.rope_parameters = {
    rope_type: "llama3", rope_theta: rope.rope_theta, factor: params.factor, low_freq_factor: params.low,
    high_freq_factor: params.high, original_max_position_embeddings: params.old,
  };
}

/** The Llama (and Mistral, which llama.cpp converts as `llama`): q and k rows interleaved per head by the converter. */
const llama: GgufArchitecture = {
  config(m, tensor) {
    const c = { model_type: "llama", ...llamaDims(m, vocabSizeOf(m)) };
    llama3Rope(m, tensor, c);
    return c;
  },
  tensors(config, has) {
    const headDim = config.head_dim as number;
    const map = layoutTensors(config, LLAMA_LAYER, LLAMA_OUTER, (_, suffix) =>
      suffix.startsWith("attn_q.") || suffix.startsWith("attn_k.") ? { permuteHeads: headDim } : {});
    config.tie_word_embeddings = !has("output.weight");
    return map;
  },
};

/** Mistral as its own architecture (newer converters): the Llama with a sliding window. */
const mistral: GgufArchitecture = {
  config(m, tensor) {
    const c: Record<string, unknown> = { ...llama.config(m, tensor), model_type: "mistral" };
    c.sliding_window = m.has("attention.sliding_window") ? m.int("attention.sliding_window") : null;
    return c;
  },
  tensors: llama.tensors,
};

/** Qwen2: the Llama layout with q/k/v biases, rotate-half RoPE (no permutation). */
const qwen2: GgufArchitecture = {
  config: (m) => ({ model_type: "qwen2", ...llamaDims(m, vocabSizeOf(m)), use_sliding_window: false }),
  tensors(config, has) {
    config.tie_word_embeddings = !has("output.weight");
    return layoutTensors(config, LLAMA_LAYER, LLAMA_OUTER);
  },
};

/** Qwen3: Qwen2 with q/k norms and its own head width (`attention.key_length`). */
const qwen3: GgufArchitecture = {
  config: (m, tensor) => ({ ...qwen2.config(m, tensor), model_type: "qwen3" }),
  tensors(config, has) {
    config.attention_bias = has("blk.0.attn_q.bias");
    return qwen2.tensors(config, has);
  },
};

/** Phi-3: fused qkv and gate/up, partial rotary (`rope.dimension_count`), an optional window. */
const phi3: GgufArchitecture = {
  config(m) {
    const c: Record<string, unknown> = { model_type: "phi3", ...llamaDims(m, vocabSizeOf(m)) };
    const headDim = c.head_dim as number;
    c.partial_rotary_factor = m.int("rope.dimension_count", headDim) / headDim;
    c.sliding_window = m.has("attention.sliding_window") ? m.int("attention.sliding_window") : null;
    return c;
  },
  tensors(config, has) {
    config.tie_word_embeddings = !has("output.weight");
    return layoutTensors(config, {
      ...LLAMA_LAYER, "attn_qkv.weight": "self_attn.qkv_proj.weight", "ffn_up.weight": "mlp.gate_up_proj.weight",
    }, LLAMA_OUTER);
  },
  refusedTensors: ["rope_factors_long.weight", "rope_factors_short.weight"],
};

/**
 * Gemma 3: norms stored as 1 + w by the converter; every sixth layer global (llama.cpp's fixed pattern), the rest
 * sliding with RoPE base 10000; scores scaled by key_length^-½, as llama.cpp does.
 */
const gemma3: GgufArchitecture = {
  config(m) {
    const base = llamaDims(m, vocabSizeOf(m));
    return {
      model_type: "gemma3_text",
      ...base,
      query_pre_attn_scalar: base.head_dim,
      sliding_window: m.int("attention.sliding_window"),
      sliding_window_pattern: 6,
      rope_parameters: undefined,
      rope_theta: m.number("rope.freq_base", 1_000_000),
      rope_local_base_freq: 10_000,
      final_logit_softcapping: m.has("final_logit_softcapping") ? m.number("final_logit_softcapping") : null,
      attn_logit_softcapping: m.has("attn_logit_softcapping") ? m.number("attn_logit_softcapping") : null,
    };
  },
  tensors(config, has) {
    config.tie_word_embeddings = !has("output.weight");
    return layoutTensors(config, {
      ...LLAMA_LAYER,
      "post_attention_norm.weight": "post_attention_layernorm.weight",
      "ffn_norm.weight": "pre_feedforward_layernorm.weight",
      "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    }, LLAMA_OUTER, (gguf) => (gguf.endsWith("norm.weight") ? { minusOne: true } : {}));
  },
};

/** GPT-2: Conv1D weights stored transposed (Linear layout) by the converter; the head a copy of the embedding. */
const gpt2: GgufArchitecture = {
  config(m) {
    return {
      model_type: "gpt2",
      vocab_size: vocabSizeOf(m),
      n_embd: m.int("embedding_length"),
      n_inner: m.int("feed_forward_length"),
      n_layer: m.int("block_count"),
      n_head: m.int("attention.head_count"),
      n_positions: m.int("context_length"),
      layer_norm_epsilon: m.number("attention.layer_norm_epsilon"),
    };
  },
  tensors(config, has) {
    config.tie_word_embeddings = !has("output.weight");
    return layoutTensors(config, {
      "attn_norm.weight": "h.{i}.ln_1.weight", "attn_norm.bias": "h.{i}.ln_1.bias",
      "attn_qkv.weight": "h.{i}.attn.c_attn.weight", "attn_qkv.bias": "h.{i}.attn.c_attn.bias",
      "attn_output.weight": "h.{i}.attn.c_proj.weight", "attn_output.bias": "h.{i}.attn.c_proj.bias",
      "ffn_norm.weight": "h.{i}.ln_2.weight", "ffn_norm.bias": "h.{i}.ln_2.bias",
      "ffn_up.weight": "h.{i}.mlp.c_fc.weight", "ffn_up.bias": "h.{i}.mlp.c_fc.bias",
      "ffn_down.weight": "h.{i}.mlp.c_proj.weight", "ffn_down.bias": "h.{i}.mlp.c_proj.bias",
    }, {
      "token_embd.weight": "wte.weight", "position_embd.weight": "wpe.weight", "output_norm.weight": "ln_f.weight",
      "output_norm.bias": "ln_f.bias", "output.weight": "lm_head.weight",
    }, (gguf) => (gguf.endsWith(".weight") && /attn_qkv|attn_output|ffn_up|ffn_down/.test(gguf) ? { transposed: true } : {}));
  },
};

const ARCHITECTURES: ReadonlyMap<string, GgufArchitecture> = new Map([
  ["llama", llama], ["mistral", mistral], ["qwen2", qwen2], ["qwen3", qwen3], ["phi3", phi3], ["gemma3", gemma3], ["gpt2", gpt2],
]);

/** The mapping for `general.architecture`; MODEL_LOAD naming the key when it is missing or not supported. */
export function ggufArchitecture(m: Metadata): { name: string; arch: GgufArchitecture } {
  const name = m.get("general.architecture");
  if (name === undefined) throw new LlmError("MODEL_LOAD", `${m.path}: metadata key "general.architecture" is missing`, { file: m.path });
  const arch = typeof name === "string" ? ARCHITECTURES.get(name) : undefined;
  if (arch === undefined || typeof name !== "string") {
    throw new LlmError("MODEL_LOAD", `${m.path}: metadata key "general.architecture" is ${JSON.stringify(name)}, which is not supported (${[...ARCHITECTURES.keys()].join(", ")})`, { file: m.path });
  }
  return { name, arch };
}

/** The vocabulary size: `{arch}.vocab_size`, else the length of `tokenizer.ggml.tokens`. */
function vocabSizeOf(m: MetadataReader): number {
  if (m.has("vocab_size")) return m.int("vocab_size");
  const tokens = m.raw("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens)) return m.refuse("vocab_size", `is missing, and so is "tokenizer.ggml.tokens": the vocabulary size is unknown`);
  return tokens.length;
}
