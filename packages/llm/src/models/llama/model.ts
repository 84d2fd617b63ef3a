/**
 * The Llama model: token embedding → decoder layers → final RMSNorm → LM head. Immutable after load; which
 * sequence holds which KV blocks is the caller's. The model never names a device or a backend: its kernels
 * (and the memory its weights, buffers and KV cache live in) come from the caller.
 */
import { openSafetensors, type BatchSequence, type Kernels, type TensorSource, type Weight, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../../errors.js";
import { DEFAULT_BLOCK_SIZE, KvPool } from "../../kv-cache.js";
import {
  DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_LOGIT_ROWS, checkMemory, defaultKvTokens, type CausalLM, type ModelLoadOptions,
} from "../causal-lm.js";
import type { LlamaConfig } from "../config.js";
import { WeightLoader, type FormatUse, type WeightSpecs, type Weights } from "../weights.js";
import { LlamaBuffers, LlamaDecoderLayer, type DecoderLayerKey, type RopeTables } from "./layers.js";
import { RotaryTables, ropeInvFreq } from "./rope.js";

/** Options for loading a Llama checkpoint: the kernels to run on (required), storage format, limits, progress. */
export type LlamaLoadOptions = ModelLoadOptions;

/**
 * How an architecture made of the Llama's blocks names, loads and describes its decoder layers: the extension point
 * BitNet b1.58 uses (its layers add sub-norms and store their linears ternary). The Llama's own is {@link LLAMA_LAYERS}.
 */
export interface LayerPlan {
  /** Layer `index`'s weight specs (HF names, shapes; a spec may fix its own storage format). */
  weights(index: number, config: LlamaConfig): WeightSpecs<string>;
  /** Layer `index` over the weights its specs named. */
  load(w: Weights<string>, index: number, config: LlamaConfig, ops: Kernels): LlamaDecoderLayer;
  /** How the weights are stored, in words, for a model loaded with `format` (reported by the model's `info`). */
  describe(format: WeightFormat): string;
}

/**
 * Storage format of the token embedding and LM head for a model stored as `format`: the same, except that ternary
 * models keep them in bfloat16 (as BitNet b1.58 does: ternary embeddings would lose the model).
 */
export function embeddingFormat(format: WeightFormat): WeightFormat {
  return format === "ternary" ? "bfloat16" : format;
}

/** The Llama's decoder layers: every matrix in the model's format. */
export const LLAMA_LAYERS: LayerPlan = {
  weights: (index, config) => LlamaDecoderLayer.weights(index, config),
  load: (w, index, config, ops) => LlamaDecoderLayer.load(w as Weights<DecoderLayerKey>, index, config, ops),
  describe: (format) => format === "ternary"
    ? "ternary decoder linears (post-training ternarization of float weights, BitNet b1.58's scheme: lossy), embeddings and LM head bfloat16"
    : format,
};

/** A loaded, immutable Llama-family model. */
export class Llama implements CausalLM {
  private constructor(
    readonly config: LlamaConfig,
    readonly kernels: Kernels,
    readonly kv: KvPool,
    readonly maxBatchTokens: number,
    readonly maxLogitRows: number,
    readonly weightBytesPerToken: number,
    /** How the weights are stored, in words. */
    readonly storage: string,
    /** The weight matrices by storage format. */
    readonly formats: Readonly<Partial<Record<WeightFormat, Readonly<FormatUse>>>>,
    private readonly embed: Weight,           // [vocab, hidden]
    private readonly layers: readonly LlamaDecoderLayer[],
    private readonly norm: Weight,            // [hidden]
    private readonly lmHead: Weight,          // [vocab, hidden] (the embedding when tied)
    private readonly rope: RopeTables,        // [positions, headDim/2]
    private readonly s: LlamaBuffers,
  ) {}

  /** Load the safetensors weights (single file or shards) of the model in `dir`, whose config.json gave `config`. */
  static async load(dir: string, config: LlamaConfig, options: LlamaLoadOptions): Promise<Llama> {
    requireKernels(options);
    const source = await openSafetensors(dir, { onProgress: options.onProgress });
    try {
      return Llama.fromSource(config, source, options);
    } finally {
      source.close();
    }
  }

  /**
   * Build a model from a normalized config and any tensor source, checking every weight's shape; `layers` names and
   * loads the decoder layers (an architecture made of the Llama's blocks passes its own).
   */
  static fromSource(config: LlamaConfig, source: TensorSource, options: LlamaLoadOptions, layers: LayerPlan = LLAMA_LAYERS): Llama {
    const ops = requireKernels(options);
    const { vocabSize: v, hiddenSize: h } = config;
    const format = options.format ?? "float32";
    const embedFormat = embeddingFormat(format);
    const outer = {
      embed: { name: "model.embed_tokens.weight", shape: [v, h], format: embedFormat },
      norm: { name: "model.norm.weight", shape: [h] },
    } satisfies WeightSpecs<"embed" | "norm">;
    const head: WeightSpecs<"lmHead"> | null = config.tieWordEmbeddings ? null : { lmHead: { name: "lm_head.weight", shape: [v, h], format: embedFormat } };
    const layerWeights = Array.from({ length: config.numLayers }, (_, i) => layers.weights(i, config));
    const w = new WeightLoader(source, ops, format, [outer, ...layerWeights, ...(head ? [head] : [])], options.onProgress);
    const positions = config.maxPositionEmbeddings;
    const half = config.headDim / 2;
    const kvBytesPerToken = 2 * config.numLayers * config.numKvHeads * config.headDim * 4;
    const kvTokens = options.kvCacheTokens ?? defaultKvTokens(kvBytesPerToken, positions);
    const blocks = Math.ceil(kvTokens / DEFAULT_BLOCK_SIZE);
    const rows = options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
    const outputs = options.maxLogitRows ?? DEFAULT_MAX_LOGIT_ROWS;
    checkMemory(ops, w.plannedBytes + 8 * positions * half + blocks * DEFAULT_BLOCK_SIZE * kvBytesPerToken + LlamaBuffers.bytes(config, rows, outputs), format, w.plannedBytes);

    const { embed, norm } = w.load(outer);
    const decoder = layerWeights.map((specs, i) => layers.load(w.load(specs), i, config, ops));
    const lmHead = head ? w.load(head).lmHead : embed;              // tied: the embedding doubles as the head
    const tables = new RotaryTables(ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling), positions);
    const rope = {
      cos: ops.weight([positions * half], "float32", tables.cos),
      sin: ops.weight([positions * half], "float32", tables.sin),
    };
    const kv = new KvPool(ops, {
      layers: config.numLayers, kvHeads: config.numKvHeads, headDim: config.headDim, blockSize: DEFAULT_BLOCK_SIZE, blocks,
    });
    const buffers = new LlamaBuffers(ops, config, rows, outputs);
    const bytesPerToken = w.storedBytes - (head ? embed.bytes : 0);  // an untied embedding is read one row at a time
    return new Llama(config, ops, kv, rows, outputs, bytesPerToken, layers.describe(format), w.byFormat, embed, decoder, norm, lmHead, rope, buffers);
  }

  /**
   * Runs one batch (each sequence's new tokens after its cached positions) and returns the logits its
   * sequences asked for, [rows, vocab], in a fresh array.
   */
  forward(sequences: readonly BatchSequence[]): Float32Array {
    const { config: c, kernels: ops, s } = this;
    this.check(sequences);
    const batch = ops.batch(this.kv.cache, sequences);
    ops.embed(s.x, this.embed, batch);                                       // x = embed[tokens]
    for (const layer of this.layers) layer.forward(s, batch, this.kv.cache, this.rope);
    if (batch.outputs === 0) return ops.read(s.logits, 0);
    ops.gather(s.out, s.x, batch, c.hiddenSize);                             // rows we want logits for
    ops.rmsnorm(s.out, s.out, this.norm, batch.outputs, c.rmsNormEps);       // out = norm(x)
    ops.matmul(s.logits, s.out, this.lmHead, batch.outputs);                 // logits = out Wheadᵀ
    return ops.read(s.logits, batch.outputs * c.vocabSize);
  }

  /** Frees the kernels' memory and threads. */
  async dispose(): Promise<void> {
    await this.kernels.dispose();
  }

  /** Refuse (VALIDATION) an empty batch, ids outside the vocabulary, positions past the model's, or too many rows. */
  private check(sequences: readonly BatchSequence[]): void {
    const c = this.config;
    let rows = 0, outputs = 0;
    for (const seq of sequences) {
      const n = seq.tokens.length;
      rows += n;
      outputs += seq.logits === "all" ? n : seq.logits === "none" || n === 0 ? 0 : 1;
      if (seq.start + n > c.maxPositionEmbeddings) {
        throw new LlmError("VALIDATION", `positions up to ${seq.start + n} exceed max_position_embeddings ${c.maxPositionEmbeddings}`);
      }
      if (!Number.isSafeInteger(seq.start) || seq.start < 0 || seq.blocks.length * this.kv.blockSize < seq.start + n) {
        throw new LlmError("VALIDATION", `a sequence starting at ${seq.start} with ${seq.blocks.length} KV blocks cannot hold ${n} more positions`);
      }
      for (let i = 0; i < n; i++) {
        const id = seq.tokens[i];
        if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
          throw new LlmError("VALIDATION", `token ${i} has id ${id}, outside the vocabulary 0 .. ${c.vocabSize - 1}`);
        }
      }
    }
    if (rows === 0) throw new LlmError("VALIDATION", "forward needs at least one token");
    if (rows > this.maxBatchTokens) throw new LlmError("VALIDATION", `batch of ${rows} rows exceeds maxBatchTokens ${this.maxBatchTokens}`);
    if (outputs > this.maxLogitRows) throw new LlmError("VALIDATION", `batch asks for ${outputs} logit rows, more than ${this.maxLogitRows}`);
  }
}

/** The kernels of `options`; a TypeError naming the option when the caller gave none. */
function requireKernels(options: LlamaLoadOptions | undefined): Kernels {
  const kernels = options?.kernels;
  if (typeof kernels !== "object" || kernels === null) throw new TypeError("options.kernels is required: the caller chooses the kernels a model runs on");
  return kernels;
}
