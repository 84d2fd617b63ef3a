// Model shapes the benchmarks write with seeded random weights, in Hugging Face layout (config.json,
// model.safetensors, and the embedded model's tokenizer, whose 4096 ids fit any of these vocabularies).
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { f32ToBf16Bits, f32ToF16Bits } from "@actorlm/tensor";

/** A Llama-family shape. */
export interface LlamaShape {
  readonly name: string;
  readonly hidden: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly intermediate: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly ropeTheta: number;
}

/** SmolLM-135M: hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate 1536, vocab 49152, tied embeddings. */
export const SMOLLM_135M: LlamaShape = {
  name: "smollm-135m-shape", hidden: 576, layers: 30, heads: 9, kvHeads: 3, intermediate: 1536, vocab: 49152, maxPositions: 2048, ropeTheta: 10000,
};

/** Llama-3.2-1B: hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192, vocab 128256, tied embeddings. */
export const LLAMA_1B: LlamaShape = {
  name: "llama-3.2-1b-shape", hidden: 2048, layers: 16, heads: 32, kvHeads: 8, intermediate: 8192, vocab: 128256, maxPositions: 2048, ropeTheta: 500000,
};

/** Where the bench keeps the models it writes (git-ignored). */
export const BENCH_MODELS = new URL("./.models/", import.meta.url).pathname;

/** Every tensor of a tied-embedding Llama of `shape`, as name → dimensions, in file order. */
function tensors(s: LlamaShape): [string, number[]][] {
  const hd = s.hidden / s.heads;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [s.vocab, s.hidden]]];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [s.hidden]],
      [`${p}.self_attn.q_proj.weight`, [s.heads * hd, s.hidden]],
      [`${p}.self_attn.k_proj.weight`, [s.kvHeads * hd, s.hidden]],
      [`${p}.self_attn.v_proj.weight`, [s.kvHeads * hd, s.hidden]],
      [`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * hd]],
      [`${p}.post_attention_layernorm.weight`, [s.hidden]],
      [`${p}.mlp.gate_proj.weight`, [s.intermediate, s.hidden]],
      [`${p}.mlp.up_proj.weight`, [s.intermediate, s.hidden]],
      [`${p}.mlp.down_proj.weight`, [s.hidden, s.intermediate]],
    );
  }
  out.push(["model.norm.weight", [s.hidden]]);
  return out;
}

/**
 * The directory of a model of `shape` with seeded random weights (normal, σ 0.02; norms 1) stored as `dtype`
 * ("BF16" or "F16"), written on first use.
 */
export function benchModel(shape: LlamaShape, dtype: "BF16" | "F16" = "BF16", seed = 1): string {
  const dir = join(BENCH_MODELS, `${shape.name}-${dtype.toLowerCase()}`);
  if (existsSync(join(dir, "model.safetensors"))) return dir;
  mkdirSync(dir, { recursive: true });
  const hd = shape.hidden / shape.heads;
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: shape.hidden, intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers, num_attention_heads: shape.heads, num_key_value_heads: shape.kvHeads, head_dim: hd,
    vocab_size: shape.vocab, max_position_embeddings: shape.maxPositions, rms_norm_eps: 1e-5, rope_theta: shape.ropeTheta,
    tie_word_embeddings: true, hidden_act: "silu", bos_token_id: 0, eos_token_id: 1, torch_dtype: dtype === "BF16" ? "bfloat16" : "float16",
  }, null, 2));
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) copyFileSync(join(EMBEDDED_MODEL_DIR, f), join(dir, f));
  writeSafetensors(join(dir, "model.safetensors"), tensors(shape), dtype, seed);
  return dir;
}

/** One tensor of a safetensors file to write: its bytes are made only when written. */
export interface TensorToWrite {
  readonly name: string;
  readonly dtype: "BF16" | "F16" | "U8";
  readonly shape: readonly number[];
  readonly bytes: () => Uint8Array;
}

/** Writes a safetensors file one tensor at a time (the header first, then each tensor in order), never holding the whole file. */
export function writeTensors(path: string, tensors: readonly TensorToWrite[]): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    const bytes = (t.dtype === "U8" ? 1 : 2) * t.shape.reduce((a, b) => a * b, 1);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((json.length + 8) % 8 !== 0) json += " ";
  const fd = openSync(path, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, json);
    for (const t of tensors) writeSync(fd, t.bytes());
  } finally {
    closeSync(fd);
  }
}

/** A seeded xorshift32 stream of unsigned 32-bit values. */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
    return state;
  };
}

/** Standard normal values from a 32-bit stream (Box–Muller, two draws each). */
export function normalFrom(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log((next() + 1) / 4294967297)) * Math.cos((2 * Math.PI * next()) / 4294967296);
}

/** Seeded random weights (normal, σ 0.02; norms, the 1-D tensors, 1) as 16-bit `dtype`, drawn in the list's order. */
function writeSafetensors(path: string, list: [string, number[]][], dtype: "BF16" | "F16", seed: number): void {
  const normal = normalFrom(xorshift32(seed));
  const encode = dtype === "BF16" ? f32ToBf16Bits : f32ToF16Bits;
  writeTensors(path, list.map(([name, shape]) => ({
    name, dtype, shape,
    bytes: () => {
      const n = shape.reduce((a, b) => a * b, 1), out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = encode(shape.length === 1 ? 1 : 0.02 * normal());
      return new Uint8Array(out.buffer);
    },
  })));
}
