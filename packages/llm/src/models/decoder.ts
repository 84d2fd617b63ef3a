/**
 * The decoder-only transformer every architecture here is: token embedding (scaled, plus learned positions, when the
 * architecture says so) → decoder layers → final norm → LM head (soft-capped when asked). Immutable after load; which
 * sequence holds which KV blocks is the caller's. The model never names a device or a backend: its kernels (and the
 * memory its weights, buffers and KV cache live in) come from the caller.
 *
 * An architecture is a {@link DecoderRecipe}: the checkpoint names of its weights and how to build its layers from
 * them. {@link loadDecoder} does the rest the same way for every one: read and check the weights, plan the memory,
 * allocate the KV storage and the buffers, and have the kernels size their working memory for the model's limits (so
 * memory does not grow with the shapes of the batches that come later).
 */
import { openSafetensors, type BatchSequence, type Kernels, type TensorSource, type Weight, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import { DEFAULT_BLOCK_SIZE, KvStorage } from "../kv-cache.js";
import { DecoderBuffers, type DecoderDims } from "./blocks/buffers.js";
import type { DecoderLayer } from "./blocks/decoder-layer.js";
import type { Norm } from "./blocks/norm.js";
import { rotaryBytes, uploadRotary, type Rotary } from "./blocks/rotary.js";
import {
  DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_LOGIT_ROWS, checkMemory, defaultKvTokens, type CausalLM, type ModelLoadOptions,
} from "./causal-lm.js";
import { WeightLoader, type FormatUse, type SpecsObject, type WeightSpec, type WeightSpecs, type WeightsOf } from "./weights.js";

/**
 * Specs of the weights outside the layers: the token embedding [vocab, hidden] and the final norm [hidden] always; the
 * norm's bias (LayerNorm) and learned positions [positions · hidden] when the architecture has them.
 */
export type OuterSpecs = WeightSpecs<"embed" | "norm"> & Partial<WeightSpecs<"normBias" | "positions">>;
/** The loaded outer weights. */
export type OuterWeights = WeightsOf<OuterSpecs>;

/** What the recipe's layer builder gets besides the weights. */
export interface LayerContext {
  readonly ops: Kernels;
  /** The rotary tables of {@link DecoderRecipe.rotary}, uploaded, under the same names. */
  readonly rotary: Readonly<Record<string, Rotary>>;
}

/** Tells whether the checkpoint has a tensor (for architectures whose checkpoints name weights more than one way). */
export type HasTensor = (name: string) => boolean;

/**
 * One decoder-only architecture: its weights by checkpoint name, and how its layers are built from them. `C` is its
 * normalized config, `S` the specs of one layer's weights (under the keys its layer builder reads).
 */
export interface DecoderRecipe<C extends DecoderDims, S extends SpecsObject> {
  /** The token embedding, the final norm and whatever else lies outside the layers. */
  outerWeights(config: C, has: HasTensor): OuterSpecs;
  /** The untied LM head [vocab, hidden], or null when the embedding doubles as the head. */
  headWeight(config: C, has: HasTensor): WeightSpec | null;
  /** Layer `index`'s weights. */
  layerWeights(index: number, config: C, has: HasTensor): S;
  /** Inverse frequencies of each rotary table the layers use, by name (none when positions are learned). */
  rotary(config: C): Readonly<Record<string, Float32Array>>;
  /** Layer `index` over its loaded weights. */
  layer(w: WeightsOf<S>, index: number, config: C, ctx: LayerContext): DecoderLayer;
  /** The final norm over the loaded outer weights. */
  finalNorm(w: OuterWeights, config: C, ops: Kernels): Norm;
  /** Multiplier of the token embeddings (Gemma: √hidden); 1 when absent. */
  embeddingScale?(config: C): number;
  /** Soft-cap of the logits, cap · tanh(logit / cap) (Gemma's final_logit_softcapping); 0 or absent: none. */
  logitSoftcap?(config: C): number;
  /** How a model loaded with `format` stores its weights, in words (reported by `info`); absent: {@link describeStorage}. */
  describe?(format: WeightFormat): string;
}

/**
 * Storage format of the token embedding and LM head for a model stored as `format`: the same, except that a ternary
 * model keeps them in bfloat16 (as BitNet b1.58 does: ternary embeddings would lose the model).
 */
export function tableFormat(format: WeightFormat): WeightFormat {
  return format === "ternary" ? "bfloat16" : format;
}

/** How a model of any float architecture loaded with `format` stores its weights, in words. */
export function describeStorage(format: WeightFormat): string {
  if (format === "ternary") return "ternary decoder linears (post-training ternarization of float weights, BitNet b1.58's scheme: lossy), embeddings and LM head bfloat16";
  if (format === "q4") return "q4 (4-bit blocks of 32 with a half scale each: float weights rounded to nearest, lossy; a GGUF Q4_0 block is kept exactly)";
  return format;
}

/** The parts of a loaded decoder. */
export interface DecoderParts<C extends DecoderDims> {
  readonly config: C;
  readonly kernels: Kernels;
  readonly kv: KvStorage;
  readonly maxBatchTokens: number;
  readonly maxLogitRows: number;
  readonly weightBytesPerToken: number;
  readonly productValuesPerToken: number;
  /** How the weights are stored, in words. */
  readonly storage: string;
  /** The weight matrices by storage format. */
  readonly formats: Readonly<Partial<Record<WeightFormat, Readonly<FormatUse>>>>;
  readonly embed: Weight;               // [vocab, hidden]
  readonly embeddingScale: number;
  readonly positions: Weight | null;    // [positions · hidden] learned positions, or none
  readonly layers: readonly DecoderLayer[];
  readonly norm: Norm;
  readonly lmHead: Weight;              // [vocab, hidden] (the embedding when tied)
  readonly logitSoftcap: number;
  readonly buffers: DecoderBuffers;
}

/** A loaded, immutable decoder-only model. */
export class DecoderModel<C extends DecoderDims> implements CausalLM {
  readonly config: C;
  readonly kernels: Kernels;
  readonly kv: KvStorage;
  readonly maxBatchTokens: number;
  readonly maxLogitRows: number;
  readonly weightBytesPerToken: number;
  readonly productValuesPerToken: number;
  readonly storage: string;
  readonly formats: Readonly<Partial<Record<WeightFormat, Readonly<FormatUse>>>>;
  readonly #p: DecoderParts<C>;

  /** The model over its loaded parts (see {@link loadDecoder}). */
  constructor(parts: DecoderParts<C>) {
    this.config = parts.config;
    this.kernels = parts.kernels;
    this.kv = parts.kv;
    this.maxBatchTokens = parts.maxBatchTokens;
    this.maxLogitRows = parts.maxLogitRows;
    this.weightBytesPerToken = parts.weightBytesPerToken;
    this.productValuesPerToken = parts.productValuesPerToken;
    this.storage = parts.storage;
    this.formats = parts.formats;
    this.#p = parts;
  }

  /**
   * Runs one batch (each sequence's new tokens after its cached positions) and returns the logits its
   * sequences asked for, [rows, vocab], in a fresh array.
   */
  forward(sequences: readonly BatchSequence[]): Float32Array {
    const { config: c, kernels: ops } = this;
    const p = this.#p, s = p.buffers;
    this.check(sequences);
    const batch = ops.batch(this.kv.cache, sequences);
    const n = batch.rows * c.hiddenSize;
    ops.embed(s.x, p.embed, batch);                                            // x = embed[tokens]
    if (p.embeddingScale !== 1) ops.scale(s.x, s.x, p.embeddingScale, n);      // x *= scale
    if (p.positions !== null) ops.addPositions(s.x, p.positions, batch, c.hiddenSize); // x += wpe[position]
    for (const layer of p.layers) layer.forward(s, batch, this.kv.cache);
    if (batch.outputs === 0) return ops.read(s.logits, 0);
    ops.gather(s.out, s.x, batch, c.hiddenSize);                               // rows we want logits for
    p.norm.forward(s.out, s.out, batch.outputs);                               // out = norm(x)
    ops.matmul(s.logits, s.out, p.lmHead, batch.outputs);                      // logits = out Wheadᵀ
    const logits = batch.outputs * c.vocabSize;
    if (p.logitSoftcap > 0) ops.softcap(s.logits, s.logits, p.logitSoftcap, logits); // cap · tanh(logits / cap)
    return ops.read(s.logits, logits);
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

/** Load the safetensors weights (single file or shards) in `dir` as `recipe` describes, for `config`. */
export async function loadDecoder<C extends DecoderDims, S extends SpecsObject>(
  dir: string, config: C, options: ModelLoadOptions, recipe: DecoderRecipe<C, S>,
): Promise<DecoderParts<C>> {
  requireKernels(options);
  if (options.source !== undefined) return decoderParts(config, options.source, options, recipe);   // a GGUF file, opened by the caller
  const source = await openSafetensors(dir, { onProgress: options.onProgress });
  try {
    return decoderParts(config, source, options, recipe);
  } finally {
    source.close();
  }
}

/** Build a decoder's parts from a normalized config and any tensor source, checking every weight's shape first. */
export function decoderParts<C extends DecoderDims, S extends SpecsObject>(
  config: C, source: TensorSource, options: ModelLoadOptions, recipe: DecoderRecipe<C, S>,
): DecoderParts<C> {
  const ops = requireKernels(options);
  const has: HasTensor = (name) => source.has(name);
  const format = options.format ?? "float32";
  // the token table and the head keep a float format beside ternary linears
  const table = (spec: WeightSpec): WeightSpec => ({ ...spec, format: spec.format ?? tableFormat(format) });
  const outerSpecs = recipe.outerWeights(config, has);
  const outer: OuterSpecs = { ...outerSpecs, embed: table(outerSpecs.embed) };
  const headSpec = recipe.headWeight(config, has);
  const head: WeightSpecs<"lmHead"> | null = headSpec === null ? null : { lmHead: table(headSpec) };
  const layerWeights = Array.from({ length: config.numLayers }, (_, i) => recipe.layerWeights(i, config, has));
  const w = new WeightLoader(source, ops, format, [outer, ...layerWeights, ...(head ? [head] : [])], options.onProgress, options.checkWeights ?? true, options.formatOf);
  const positions = config.maxPositionEmbeddings;
  const invFreqs = recipe.rotary(config);
  const kvBytesPerToken = 2 * config.numLayers * config.numKvHeads * config.headDim * 4;
  const kvTokens = options.kvCacheTokens ?? defaultKvTokens(kvBytesPerToken, positions);
  const blocks = Math.ceil(kvTokens / DEFAULT_BLOCK_SIZE);
  const rows = options.maxBatchTokens ?? DEFAULT_MAX_BATCH_TOKENS;
  const outputs = options.maxLogitRows ?? DEFAULT_MAX_LOGIT_ROWS;
  const tableBytes = Object.values(invFreqs).reduce((n, inv) => n + rotaryBytes(inv, positions), 0);
  const work = { rows, positions: Math.min(positions, blocks * DEFAULT_BLOCK_SIZE), queriesPerKvHead: Math.ceil(config.numHeads / config.numKvHeads) };
  // about the kernels' working memory: the widest product's activations prepared as float32, a query group's scores per thread
  const workBytes = 4 * rows * Math.max(config.hiddenSize, config.intermediateSize, config.numHeads * config.headDim) + 4 * ops.threads * work.queriesPerKvHead * work.positions;
  checkMemory(ops, w.plannedBytes + tableBytes + blocks * DEFAULT_BLOCK_SIZE * kvBytesPerToken + DecoderBuffers.bytes(config, rows, outputs) + workBytes, format, w.plannedBytes);

  const outerWeights: OuterWeights = w.load(outer);
  const rotary = Object.fromEntries(Object.entries(invFreqs).map(([name, inv]) => [name, uploadRotary(ops, inv, positions)]));
  const layers = layerWeights.map((specs, i) => recipe.layer(w.load(specs), i, config, { ops, rotary }));
  const lmHead = head ? w.load(head).lmHead : outerWeights.embed;              // tied: the embedding doubles as the head
  const kv = new KvStorage(ops, {
    layers: config.numLayers, kvHeads: config.numKvHeads, headDim: config.headDim, blockSize: DEFAULT_BLOCK_SIZE, blocks,
  });
  const buffers = new DecoderBuffers(ops, config, rows, outputs);
  // a row attends over at most the model's positions, and never more than the pool holds
  ops.reserve(work);
  // an untied embedding (and a position table) is read one row at a time, not whole, per token
  const rowwise = (head ? outerWeights.embed.bytes : 0) + (outerWeights.positions?.bytes ?? 0);
  // every matrix's values but the embedding's and the head's (tied or not) and the position table's
  const values = (m: Weight | undefined) => (m === undefined || m.shape.length < 2 ? 0 : m.shape[0] * m.shape[1]);
  const allValues = Object.values(w.byFormat).reduce((n, use) => n + (use?.values ?? 0), 0);
  const productValues = allValues - values(outerWeights.embed) - (head ? values(lmHead) : 0) - values(outerWeights.positions);
  return {
    config, kernels: ops, kv, maxBatchTokens: rows, maxLogitRows: outputs, weightBytesPerToken: w.storedBytes - rowwise,
    productValuesPerToken: productValues,
    storage: recipe.describe?.(format) ?? describeStorage(format), formats: w.byFormat,
    embed: outerWeights.embed, embeddingScale: recipe.embeddingScale?.(config) ?? 1, positions: outerWeights.positions ?? null,
    layers, norm: recipe.finalNorm(outerWeights, config, ops), lmHead, logitSoftcap: recipe.logitSoftcap?.(config) ?? 0,
    buffers,
  };
}

/** The kernels of `options`; a TypeError naming the option when the caller gave none. */
function requireKernels(options: ModelLoadOptions | undefined): Kernels {
  const kernels = options?.kernels;
  if (typeof kernels !== "object" || kernels === null) throw new TypeError("options.kernels is required: the caller chooses the kernels a model runs on");
  return kernels;
}
