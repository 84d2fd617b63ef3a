/**
 * BitNet b1.58 (`model_type: "bitnet"`, the layout of Microsoft's bitnet-b1.58-2B-4T): the Llama with a squared-ReLU
 * MLP and an RMSNorm before o_proj (`attn_sub_norm`) and before down_proj (`ffn_sub_norm`); every linear inside the
 * decoder ternary with one scale per matrix (its input quantized to int8 per token by the kernels' ternary matmul);
 * embeddings and LM head in the model's float format. Checkpoints come online (float master weights, ternarized at
 * load) or offline (packed 2 bits per weight, see packed.ts). Only this file and packed.ts name BitNet's tensors.
 */
import type { WeightFormat } from "@actorlm/tensor";
import { DecoderModel, loadDecoder, tableFormat, type DecoderRecipe } from "../decoder.js";
import { llamaRecipe, type LlamaLayerSpecs } from "../llama/model.js";
import type { ModelArchitecture } from "../registry.js";
import type { WeightSpec } from "../weights.js";
import { BITNET_MODEL_TYPES, parseBitNetConfig, type BitNetConfig, type BitNetQuantization } from "./config.js";
import { packedTernary } from "./packed.js";

/** The recipe of a BitNet b1.58 checkpoint quantized as `quantization` says. */
export function bitnetRecipe(quantization: BitNetQuantization): DecoderRecipe<BitNetConfig, LlamaLayerSpecs> {
  const llama = llamaRecipe<BitNetConfig>(() => ({ act: "relu2", subNorms: true }));
  // the decoder's matrices are ternary whatever the model's format; offline checkpoints are read packed
  const ternary = (spec: WeightSpec): WeightSpec => spec.shape.length !== 2 ? spec : {
    ...spec,
    format: "ternary",
    ...(quantization.mode === "offline" ? { read: (source) => packedTernary(source, spec.name, spec.shape, quantization.linearClass) } : {}),
  };
  return {
    ...llama,
    layerWeights(i, c, has) {
      const specs = llama.layerWeights(i, c, has);
      return Object.fromEntries(Object.entries(specs).map(([key, spec]) => [key, spec && ternary(spec)])) as LlamaLayerSpecs;
    },
    describe: (format: WeightFormat) =>
      `ternary decoder linears (BitNet b1.58 ${quantization.mode} checkpoint: 2 bits per weight + one scale per matrix, ` +
      `int8 activations per token), embeddings and LM head ${tableFormat(format)}`,
  };
}

/** The BitNet b1.58 architecture, as the registry knows it. */
export const bitnetArchitecture: ModelArchitecture<BitNetConfig, DecoderModel<BitNetConfig>> = {
  name: "bitnet",
  modelTypes: Object.keys(BITNET_MODEL_TYPES),
  parseConfig: parseBitNetConfig,
  load: async (dir, config, options) => new DecoderModel(await loadDecoder(dir, config, options, bitnetRecipe(config.quantization))),
};
