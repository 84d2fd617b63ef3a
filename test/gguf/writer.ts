/**
 * Test tooling: a small GGUF (v3) writer, and a converter from a Hugging Face Llama-family folder (config.json,
 * tokenizer.json, safetensors) to GGUF the way llama.cpp's convert_hf_to_gguf.py does it — `{arch}.*` metadata, GGUF
 * tensor names, the q/k row interleaving of Llama attention, the byte-level BPE vocabulary as `tokenizer.ggml.*` —
 * with matrices stored as F32, F16, BF16, Q8_0 or Q4_0 (quantized with ggml's reference quantizers). Fixtures are made
 * in the tests from the shared models, so no binary is committed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { f32ToBf16Bits, f32ToF16Bits, openSafetensors, type GgmlTypeName } from "@actorlm/tensor";

/** A metadata value with its GGUF value type. */
export type MetaValue =
  | { type: "u32" | "i32" | "f32" | "u64"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; of: "string"; value: string[] }
  | { type: "array"; of: "i32" | "f32"; value: number[] };

/** A tensor to write: its ggml dims (contiguous first), ggml type id and bytes. */
export interface RawTensor {
  name: string;
  dims: number[];
  typeId: number;
  data: Uint8Array;
}

const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

/** Little-endian byte sink. */
class Sink {
  private parts: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array): void { this.parts.push(b); this.length += b.length; }
  u32(v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); this.bytes(b); }
  i32(v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); this.bytes(b); }
  f32(v: number): void { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v, true); this.bytes(b); }
  u64(v: number): void { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); this.bytes(b); }
  string(s: string): void { const b = new TextEncoder().encode(s); this.u64(b.length); this.bytes(b); }
  concat(): Uint8Array { const out = new Uint8Array(this.length); let at = 0; for (const p of this.parts) { out.set(p, at); at += p.length; } return out; }
}

function writeValue(s: Sink, v: MetaValue): void {
  switch (v.type) {
    case "u32": return s.u32(v.value);
    case "i32": return s.i32(v.value);
    case "f32": return s.f32(v.value);
    case "u64": return s.u64(v.value);
    case "bool": return s.bytes(new Uint8Array([v.value ? 1 : 0]));
    case "string": return s.string(v.value);
    case "array":
      s.u32(VALUE_TYPE[v.of]);
      s.u64(v.value.length);
      for (const x of v.value) writeValue(s, { type: v.of, value: x } as MetaValue);
  }
}

/** A whole GGUF v3 file's bytes (alignment 32). */
export function ggufBytes(metadata: Record<string, MetaValue>, tensors: readonly RawTensor[], version = 3): Uint8Array {
  const s = new Sink();
  s.bytes(new TextEncoder().encode("GGUF"));
  s.u32(version);
  s.u64(tensors.length);
  s.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    s.string(key);
    s.u32(v.type === "array" ? VALUE_TYPE.array : VALUE_TYPE[v.type]);
    writeValue(s, v);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += Math.ceil(t.data.length / 32) * 32;
  }
  tensors.forEach((t, i) => {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.typeId);
    s.u64(offsets[i]);
  });
  s.bytes(new Uint8Array((32 - (s.length % 32)) % 32));
  tensors.forEach((t) => {
    s.bytes(t.data);
    s.bytes(new Uint8Array((32 - (t.data.length % 32)) % 32));
  });
  return s.concat();
}

const TYPE_IDS: Readonly<Record<"F32" | "F16" | "BF16" | "Q8_0" | "Q4_0", number>> = { F32: 0, F16: 1, BF16: 30, Q8_0: 8, Q4_0: 2 };

/** Types the converter writes matrices as. */
export type WriteType = keyof typeof TYPE_IDS;

/** `values` (a whole number of 32-blocks for quantized types) encoded as `type`, with ggml's reference quantizers. */
export function encodeTensor(type: WriteType, values: Float32Array): Uint8Array {
  const n = values.length;
  switch (type) {
    case "F32": return new Uint8Array(Float32Array.from(values).buffer);
    case "F16": return new Uint8Array(Uint16Array.from(values, (v) => f32ToF16Bits(v)).buffer);
    case "BF16": return new Uint8Array(Uint16Array.from(values, (v) => f32ToBf16Bits(v)).buffer);
    case "Q8_0": {
      const out = new Uint8Array((n / 32) * 34), view = new DataView(out.buffer);
      for (let b = 0; b < n / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]));
        const d = Math.fround(amax / 127), id = d !== 0 ? Math.fround(1 / d) : 0;
        view.setUint16(b * 34, f32ToF16Bits(d), true);
        for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, roundAway(Math.fround(values[b * 32 + j] * id)));
      }
      return out;
    }
    case "Q4_0": {
      const out = new Uint8Array((n / 32) * 18), view = new DataView(out.buffer);
      for (let b = 0; b < n / 32; b++) {
        let amax = 0, max = 0;
        for (let j = 0; j < 32; j++) {
          const v = values[b * 32 + j];
          if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
        }
        const d = Math.fround(max / -8), id = d !== 0 ? Math.fround(1 / d) : 0;
        view.setUint16(b * 18, f32ToF16Bits(d), true);
        for (let j = 0; j < 16; j++) {
          const x0 = Math.fround(values[b * 32 + j] * id), x1 = Math.fround(values[b * 32 + 16 + j] * id);
          const q0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5))), q1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
          out[b * 18 + 2 + j] = q0 | (q1 << 4);
        }
      }
      return out;
    }
  }
}

/** C's roundf: halves away from zero. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** Options of {@link convertLlama}. */
export interface ConvertOptions {
  /** Type of the 2-D tensors (1-D ones are F32, as llama.cpp writes norms). */
  matrices: WriteType;
  /** Leave out the q/k interleaving (to make a file whose q/k are wrong, for a test that must see the difference). */
  noPermute?: boolean;
  /** Metadata to drop or replace after the conversion (bad files). */
  edit?: (metadata: Record<string, MetaValue>, tensors: RawTensor[]) => void;
}

/** Converts the Llama folder `dir` (model_type llama, byte-level BPE tokenizer) to a GGUF file at `out`. */
export async function convertLlama(dir: string, out: string, options: ConvertOptions): Promise<void> {
  await convertModel(dir, out, options);
}

/**
 * Converts the folder `dir` — model_type llama, qwen2, qwen3, phi3 or gpt2, with a byte-level BPE tokenizer — to a
 * GGUF file at `out`, as llama.cpp's converter does for each (architecture keys, tensor names, the Llama's q/k
 * interleaving, GPT-2's Conv1D weights transposed and its head written as a copy of the embedding).
 */
export async function convertModel(dir: string, out: string, options: ConvertOptions): Promise<void> {
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, number | boolean | Record<string, unknown> | null>;
  const tok = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number>; merges: (string | string[])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const arch = String(config.model_type);
  const gpt2 = arch === "gpt2";
  const heads = (gpt2 ? config.n_head : config.num_attention_heads) as number;
  const kvHeads = gpt2 ? heads : (config.num_key_value_heads as number);
  const hidden = (gpt2 ? config.n_embd : config.hidden_size) as number, headDim = (config.head_dim as number) ?? hidden / heads;
  const rope = (config.rope_parameters ?? {}) as { rope_theta?: number; partial_rotary_factor?: number };
  const vocabSize = config.vocab_size as number;
  // ids the tokenizer does not use (an embedding wider than the vocabulary) become unused placeholders, as llama.cpp's
  // converter writes them
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types: number[] = new Array<number>(vocabSize).fill(5);
  for (const [t, id] of Object.entries(tok.model.vocab)) {
    tokens[id] = t;
    types[id] = 1;
  }
  for (const a of tok.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  const u32 = (value: number): MetaValue => ({ type: "u32", value });
  const f32 = (value: number): MetaValue => ({ type: "f32", value });
  const metadata: Record<string, MetaValue> = {
    "general.architecture": { type: "string", value: arch },
    "general.name": { type: "string", value: "test conversion" },
    [`${arch}.context_length`]: u32((gpt2 ? config.n_positions : config.max_position_embeddings) as number),
    [`${arch}.embedding_length`]: u32(hidden),
    [`${arch}.block_count`]: u32((gpt2 ? config.n_layer : config.num_hidden_layers) as number),
    [`${arch}.feed_forward_length`]: u32(gpt2 ? ((config.n_inner as number | null) ?? 4 * hidden) : (config.intermediate_size as number)),
    [`${arch}.attention.head_count`]: u32(heads),
    ...(gpt2 ? { [`${arch}.attention.layer_norm_epsilon`]: f32(config.layer_norm_epsilon as number) } : {
      [`${arch}.attention.head_count_kv`]: u32(kvHeads),
      [`${arch}.rope.freq_base`]: f32(rope.rope_theta ?? 10000),
      [`${arch}.rope.dimension_count`]: u32(Math.floor(headDim * (rope.partial_rotary_factor ?? 1))),
      [`${arch}.attention.layer_norm_rms_epsilon`]: f32(config.rms_norm_eps as number),
    }),
    ...(arch === "qwen3" || arch === "llama" ? { [`${arch}.attention.key_length`]: u32(headDim), [`${arch}.attention.value_length`]: u32(headDim) } : {}),
    ...(arch === "llama" ? { "llama.vocab_size": u32(vocabSize) } : {}),
    "tokenizer.ggml.model": { type: "string", value: "gpt2" },
    "tokenizer.ggml.pre": { type: "string", value: "gpt-2" },
    "tokenizer.ggml.tokens": { type: "array", of: "string", value: tokens },
    "tokenizer.ggml.token_type": { type: "array", of: "i32", value: types },
    "tokenizer.ggml.merges": { type: "array", of: "string", value: tok.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m)) },
    "tokenizer.ggml.bos_token_id": u32(config.bos_token_id as number),
    "tokenizer.ggml.eos_token_id": u32(config.eos_token_id as number),
    "tokenizer.ggml.add_bos_token": { type: "bool", value: true },
    "tokenizer.chat_template": { type: "string", value: "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}" },
  };
  const source = await openSafetensors(dir);
  const tensors: RawTensor[] = [];
  const add = (name: string, shape: readonly number[], values: Float32Array) => {
    const type: WriteType = shape.length === 2 ? options.matrices : "F32";
    tensors.push({ name, dims: [...shape].reverse(), typeId: TYPE_IDS[type], data: encodeTensor(type, values) });
  };
  try {
    for (const name of source.names) {
      const info = source.info(name);
      let values = source.toFloat32(name);
      let shape = info.shape;
      const gguf = gpt2 ? gpt2Name(name) : ggufName(name);
      if (gguf === null) continue;                                  // GPT-2's attention masks
      if (arch === "llama" && !options.noPermute && /\.(q_proj|k_proj)\.weight$/.test(name)) {
        values = interleave(values, info.shape[0] / headDim, headDim, info.shape[1]);
      }
      if (gpt2 && /(c_attn|c_proj|c_fc)\.weight$/.test(name)) {  // Conv1D [in, out] → Linear [out, in]
        values = transpose(values, shape[0], shape[1]);
        shape = [shape[1], shape[0]];
      }
      add(gguf, shape, values);
      if (gpt2 && gguf === "token_embd.weight") add("output.weight", shape, values);
    }
    const scaling = config.rope_parameters as { rope_type?: string; factor?: number; low_freq_factor?: number; high_freq_factor?: number; original_max_position_embeddings?: number } | undefined;
    if (scaling?.rope_type === "llama3") add("rope_freqs.weight", [headDim / 2], llama3Divisors(rope.rope_theta ?? 10000, headDim, scaling as Required<typeof scaling>));
  } finally {
    source.close();
  }
  options.edit?.(metadata, tensors);
  writeFileSync(out, ggufBytes(metadata, tensors));
}

/** llama.cpp's name for a checkpoint tensor of the Llama layout (Qwen2, Qwen3 and Phi-3's too). */
function ggufName(name: string): string {
  const outer: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  if (outer[name] !== undefined) return outer[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (m === null) throw new Error(`no GGUF name for ${name}`);
  const layer: Record<string, string> = {
    input_layernorm: "attn_norm", post_attention_layernorm: "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "self_attn.qkv_proj": "attn_qkv",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "mlp.gate_up_proj": "ffn_up",
  };
  if (layer[m[2]] === undefined) throw new Error(`no GGUF name for ${name}`);
  return `blk.${m[1]}.${layer[m[2]]}.${m[3]}`;
}

/** llama.cpp's name for a GPT-2 checkpoint tensor (null for the attention masks it drops). */
function gpt2Name(name: string): string | null {
  const bare = name.replace(/^transformer\./, "");
  const outer: Record<string, string> = { "wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias" };
  if (outer[bare] !== undefined) return outer[bare];
  const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(bare);
  if (m === null) return null;
  const layer: Record<string, string> = { ln_1: "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", ln_2: "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down" };
  return layer[m[2]] === undefined ? null : `blk.${m[1]}.${layer[m[2]]}.${m[3]}`;
}

/** convert_hf_to_gguf's llama3 RoPE divisors (`rope_freqs.weight`), one per frequency. */
function llama3Divisors(theta: number, dim: number, s: { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number }): Float32Array {
  const low = s.original_max_position_embeddings / s.low_freq_factor, high = s.original_max_position_embeddings / s.high_freq_factor;
  return Float32Array.from({ length: dim / 2 }, (_, i) => {
    const wavelen = 2 * Math.PI * theta ** ((2 * i) / dim);
    if (wavelen < high) return 1;
    if (wavelen > low) return s.factor;
    const smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}

/** The transpose of a [rows, cols] matrix. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/** convert_hf_to_gguf's `permute`: each head's rows [2, d/2] → [d/2, 2] (rotate-half order → interleaved pairs). */
function interleave(values: Float32Array, heads: number, d: number, K: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < d; r++) {
      const half = Math.floor(r / (d / 2)), j = r % (d / 2);
      out.set(values.subarray((h * d + r) * K, (h * d + r + 1) * K), (h * d + 2 * j + half) * K);
    }
  }
  return out;
}

/** The ggml type name of a write type (for assertions). */
export const typeName = (t: WriteType): GgmlTypeName => t;
