/**
 * BitNet b1.58 (`model_type: "bitnet"`, the layout of Microsoft's bitnet-b1.58-2B-4T): the Llama's blocks with a
 * squared-ReLU MLP and an RMSNorm before o_proj (`attn_sub_norm`) and before down_proj (`ffn_sub_norm`); every
 * linear inside the decoder ternary with one scale per matrix (its input quantized to int8 per token by the
 * kernels' ternary matmul); embeddings and LM head in the model's float format. Checkpoints come online (float
 * master weights, ternarized at load) or offline (packed 2 bits per weight, see packed.ts). Only this file and
 * packed.ts name BitNet's tensors.
 */
import { openSafetensors, type WeightFormat } from "@actorlm/tensor";
import type { ModelLoadOptions } from "../causal-lm.js";
import { LlamaDecoderLayer, type DecoderLayerKey } from "../llama/layers.js";
import { Llama, embeddingFormat, type LayerPlan } from "../llama/model.js";
import type { ModelArchitecture } from "../registry.js";
import type { WeightSpec, WeightSpecs, Weights } from "../weights.js";
import { BITNET_MODEL_TYPES, parseBitNetConfig, type BitNetConfig, type BitNetQuantization } from "./config.js";
import { packedTernary } from "./packed.js";

type BitNetLayerKey = DecoderLayerKey | "attnSubNorm" | "ffnSubNorm";

/** BitNet's decoder layers: the Llama's specs with ternary linears (read packed when offline) and the two sub-norms. */
export function bitnetLayers(quantization: BitNetQuantization): LayerPlan {
  const ternary = (spec: WeightSpec): WeightSpec => spec.shape.length !== 2 ? spec : {
    ...spec,
    format: "ternary",
    ...(quantization.mode === "offline" ? { read: (source) => packedTernary(source, spec.name, spec.shape, quantization.linearClass) } : {}),
  };
  return {
    weights(index, config): WeightSpecs<BitNetLayerKey> {
      const llama = LlamaDecoderLayer.weights(index, config);
      const p = `model.layers.${index}`;
      return {
        ...(Object.fromEntries(Object.entries(llama).map(([key, spec]) => [key, ternary(spec)])) as WeightSpecs<DecoderLayerKey>),
        attnSubNorm: { name: `${p}.self_attn.attn_sub_norm.weight`, shape: [config.numHeads * config.headDim] },
        ffnSubNorm: { name: `${p}.mlp.ffn_sub_norm.weight`, shape: [config.intermediateSize] },
      };
    },
    load(w, index, config, ops) {
      const weights = w as Weights<BitNetLayerKey>;
      return LlamaDecoderLayer.load(weights, index, config, ops, { act: "relu2", attnSubNorm: weights.attnSubNorm, ffnSubNorm: weights.ffnSubNorm });
    },
    describe: (format: WeightFormat) =>
      `ternary decoder linears (BitNet b1.58 ${quantization.mode} checkpoint: 2 bits per weight + one scale per matrix, ` +
      `int8 activations per token), embeddings and LM head ${embeddingFormat(format)}`,
  };
}

/** Loads the BitNet b1.58 checkpoint in `dir` (single file or shards) for a config parseBitNetConfig returned. */
export async function loadBitNet(dir: string, config: BitNetConfig, options: ModelLoadOptions): Promise<Llama> {
  const source = await openSafetensors(dir, { onProgress: options.onProgress });
  try {
    return Llama.fromSource(config, source, options, bitnetLayers(config.quantization));
  } finally {
    source.close();
  }
}

/** The BitNet b1.58 architecture, as the registry knows it. */
export const bitnetArchitecture: ModelArchitecture<BitNetConfig, Llama> = {
  name: "bitnet",
  modelTypes: Object.keys(BITNET_MODEL_TYPES),
  parseConfig: parseBitNetConfig,
  load: loadBitNet,
};
