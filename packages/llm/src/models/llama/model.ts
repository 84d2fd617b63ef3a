/**
 * The Llama model: token embedding → decoder layers → final RMSNorm → LM head. Immutable after load;
 * per-sequence state lives in the KvCache passed to `forward`. The model never names a device or a backend:
 * its kernels come from the `Backend` the caller loads it with.
 */
import { openSafetensors, type Backend, type F32Tensor, type TensorSource } from "@actorlm/tensor";
import { KvCache } from "../../kv-cache.js";
import { LlmError } from "../../errors.js";
import type { ModelLoadOptions } from "../causal-lm.js";
import type { LlamaConfig } from "../config.js";
import { LlamaDecoderLayer, LlamaScratch } from "./layers.js";
import { RotaryTables, ropeInvFreq } from "./rope.js";
import { WeightLoader, type WeightSpecs } from "./weights.js";

/** Options for loading a Llama checkpoint: the backend to run on (required) and a progress callback. */
export type LlamaLoadOptions = ModelLoadOptions;

/** Options for one forward pass. */
export interface ForwardOptions {
  /** Absolute position of the first token; defaults to the cache's length (append). Must be ≤ cache length. */
  readonly start?: number;
  /** "last" (default): logits of the last position only, [vocab]; "all": every position, [T, vocab]. */
  readonly logits?: "last" | "all";
}

/** A loaded, immutable Llama-family model. */
export class Llama {
  private readonly invFreq: Float32Array;
  private rope: RotaryTables;                 // grown (once) to the largest cache seen; derived data only
  private readonly scratch: LlamaScratch;     // reused activation buffers; forward is synchronous

  private constructor(
    readonly config: LlamaConfig,
    private readonly ops: Backend,
    private readonly embed: F32Tensor,        // [vocab, hidden]
    private readonly layers: readonly LlamaDecoderLayer[],
    private readonly norm: F32Tensor,         // [hidden]
    private readonly lmHead: F32Tensor,       // [vocab, hidden] (the embedding when tied)
  ) {
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling);
    this.rope = new RotaryTables(this.invFreq, 0);
    this.scratch = new LlamaScratch(config);
  }

  /** Load the safetensors weights (single file or shards) of the model in `dir`, whose config.json gave `config`. */
  static async load(dir: string, config: LlamaConfig, options: LlamaLoadOptions): Promise<Llama> {
    requireBackend(options);
    const source = await openSafetensors(dir, { onProgress: options.onProgress });
    return Llama.fromSource(config, source, options);
  }

  /** Build a model from a normalized config and any tensor source, checking every weight's shape. */
  static fromSource(config: LlamaConfig, source: TensorSource, options: LlamaLoadOptions): Llama {
    const ops = requireBackend(options);
    const { vocabSize: v, hiddenSize: h } = config;
    const outer = {
      embed: { name: "model.embed_tokens.weight", shape: [v, h] },
      norm: { name: "model.norm.weight", shape: [h] },
    } satisfies WeightSpecs<"embed" | "norm">;
    const head: WeightSpecs<"lmHead"> | null = config.tieWordEmbeddings ? null : { lmHead: { name: "lm_head.weight", shape: [v, h] } };
    const layerWeights = Array.from({ length: config.numLayers }, (_, i) => LlamaDecoderLayer.weights(i, config));
    const w = new WeightLoader(source, ops, [outer, ...layerWeights, ...(head ? [head] : [])], options.onProgress);
    const { embed, norm } = w.load(outer);
    const layers = layerWeights.map((specs, i) => LlamaDecoderLayer.load(w.load(specs), i, config, ops));
    const lmHead = head ? w.load(head).lmHead : embed;              // tied: the embedding doubles as the head
    return new Llama(config, ops, embed, layers, norm, lmHead);
  }

  /** A fresh KV cache for one sequence of up to `capacity` positions (default: max_position_embeddings). */
  newCache(capacity: number = this.config.maxPositionEmbeddings): KvCache {
    if (capacity > this.config.maxPositionEmbeddings) {
      throw new LlmError("VALIDATION", `cache capacity ${capacity} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    }
    const { numLayers: layers, numKvHeads: kvHeads, headDim } = this.config;
    return new KvCache({ layers, kvHeads, headDim, capacity });
  }

  /**
   * Run T tokens at positions start .. start+T-1 in one pass, writing their keys/values into `cache`
   * (whose length becomes start + T). Returns logits — [vocab] or [T, vocab] — in a buffer that the next
   * call overwrites: copy what must be kept.
   */
  forward(tokens: ArrayLike<number>, cache: KvCache, options: ForwardOptions = {}): Float32Array {
    const c = this.config;
    const T = tokens.length;
    const start = options.start ?? cache.length;
    const rows = options.logits === "all" ? T : 1;
    this.check(tokens, cache);
    cache.checkWrite(start, T);
    if (cache.capacity > this.rope.positions) this.rope = new RotaryTables(this.invFreq, cache.capacity);
    const s = this.scratch;
    s.ensure(T, start + T, rows);

    this.ops.embedding(s.x, this.embed, tokens, T);                          // x = embed[tokens]
    for (const layer of this.layers) layer.forward(s, cache, this.rope, start, T);
    const from = rows === T ? s.x : s.x.subarray((T - 1) * c.hiddenSize);    // rows we want logits for
    this.ops.rmsnorm(s.xb, from, this.norm, rows, c.rmsNormEps);             // xb = norm(x)
    this.ops.matmul(s.logits, s.xb, this.lmHead, rows);                      // logits = xb Wheadᵀ

    cache.setLength(start + T);
    return s.logits.subarray(0, rows * c.vocabSize);
  }

  /** Refuse (VALIDATION) empty input, ids outside the vocabulary, or a cache shaped for another model. */
  private check(tokens: ArrayLike<number>, cache: KvCache): void {
    const c = this.config;
    if (tokens.length === 0) throw new LlmError("VALIDATION", "forward needs at least one token");
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
        throw new LlmError("VALIDATION", `token ${i} has id ${id}, outside the vocabulary 0 .. ${c.vocabSize - 1}`);
      }
    }
    if (cache.layers !== c.numLayers || cache.kvHeads !== c.numKvHeads || cache.headDim !== c.headDim) {
      throw new LlmError("VALIDATION", "KV cache was made for a model of another shape");
    }
  }
}

/** The backend of `options`; a TypeError naming the option when the caller gave none. */
function requireBackend(options: LlamaLoadOptions | undefined): Backend {
  const backend = options?.backend;
  if (typeof backend !== "object" || backend === null) throw new TypeError("options.backend is required: the caller chooses the kernels a model runs on");
  return backend;
}
