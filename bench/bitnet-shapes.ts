// A BitNet b1.58 model of a Llama shape with seeded random ternary weights, written as an offline (packed)
// checkpoint the way transformers packs one: every decoder linear U8 [N/4, K] (four 2-bit values per byte, value + 1,
// rows i, i + N/4, i + N/2, i + 3N/4 sharing byte row i) with a bf16 weight_scale; embeddings and norms bf16.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { f32ToBf16Bits } from "@actorlm/tensor";
import { BENCH_MODELS, normalFrom, writeTensors, xorshift32, type LlamaShape, type TensorToWrite } from "./shapes.js";

/** The directory of a packed BitNet b1.58 model of `shape` (seeded random weights), written on first use. */
export function benchBitNetModel(shape: LlamaShape, seed = 1): string {
  const dir = join(BENCH_MODELS, `bitnet-${shape.name}`);
  if (existsSync(join(dir, "model.safetensors"))) return dir;
  mkdirSync(dir, { recursive: true });
  const hd = shape.hidden / shape.heads;
  writeFileSync(join(dir, "config.json"), JSON.stringify({
    architectures: ["BitNetForCausalLM"], model_type: "bitnet", hidden_act: "relu2", hidden_size: shape.hidden,
    intermediate_size: shape.intermediate, num_hidden_layers: shape.layers, num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads, head_dim: hd, vocab_size: shape.vocab, max_position_embeddings: shape.maxPositions,
    rms_norm_eps: 1e-5, rope_theta: shape.ropeTheta, tie_word_embeddings: true, bos_token_id: 0, eos_token_id: 1, torch_dtype: "bfloat16",
    quantization_config: { quant_method: "bitnet", linear_class: "autobitlinear", quantization_mode: "offline" },
  }, null, 2));
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) copyFileSync(join(EMBEDDED_MODEL_DIR, f), join(dir, f));
  const next = xorshift32(seed);
  const bf16 = (n: number, value: () => number) => () => new Uint8Array(Uint16Array.from({ length: n }, () => f32ToBf16Bits(value())).buffer);
  const normal = normalFrom(next);
  // random 2-bit fields holding 0, 1 or 2 (value + 1), four per byte
  const packed = (n: number) => () => Uint8Array.from({ length: n }, () => {
    let b = 0;
    for (let j = 0; j < 4; j++) b |= (next() % 3) << (2 * j);
    return b;
  });
  const tensors: TensorToWrite[] = [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [shape.vocab, shape.hidden], bytes: bf16(shape.vocab * shape.hidden, () => 0.02 * normal()) }];
  const norm = (name: string, n: number) => tensors.push({ name, dtype: "BF16", shape: [n], bytes: bf16(n, () => 1) });
  const linear = (name: string, N: number, K: number) => tensors.push(
    { name: `${name}.weight`, dtype: "U8", shape: [N / 4, K], bytes: packed((N / 4) * K) },
    { name: `${name}.weight_scale`, dtype: "BF16", shape: [1], bytes: bf16(1, () => 0.02) },
  );
  for (let l = 0; l < shape.layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, shape.hidden);
    linear(`${p}.self_attn.q_proj`, shape.heads * hd, shape.hidden);
    linear(`${p}.self_attn.k_proj`, shape.kvHeads * hd, shape.hidden);
    linear(`${p}.self_attn.v_proj`, shape.kvHeads * hd, shape.hidden);
    norm(`${p}.self_attn.attn_sub_norm.weight`, shape.heads * hd);
    linear(`${p}.self_attn.o_proj`, shape.hidden, shape.heads * hd);
    norm(`${p}.post_attention_layernorm.weight`, shape.hidden);
    linear(`${p}.mlp.gate_proj`, shape.intermediate, shape.hidden);
    linear(`${p}.mlp.up_proj`, shape.intermediate, shape.hidden);
    norm(`${p}.mlp.ffn_sub_norm.weight`, shape.intermediate);
    linear(`${p}.mlp.down_proj`, shape.hidden, shape.intermediate);
  }
  norm("model.norm.weight", shape.hidden);
  writeTensors(join(dir, "model.safetensors"), tensors);
  return dir;
}
