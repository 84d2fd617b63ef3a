/**
 * The key/value cache of one sequence (one "slot"). Storage per layer is [kvHeads][capacity][headDim],
 * so each head's keys are contiguous for the attention kernel. Capacity is fixed: a sequence that would
 * outgrow it is refused (VALIDATION), never slid.
 */
import { LlmError } from "./errors.js";

/** Dimensions of a KV cache. */
export interface KvCacheShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Maximum sequence length this cache can hold. */
  readonly capacity: number;
}

/** Cached keys and values of one sequence, for every layer. */
export class KvCache implements KvCacheShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly capacity: number;
  private readonly keyLayers: Float32Array[];
  private readonly valueLayers: Float32Array[];
  private filled = 0;

  /** Allocate zeroed storage for `shape.capacity` positions. */
  constructor(shape: KvCacheShape) {
    for (const k of ["layers", "kvHeads", "headDim", "capacity"] as const) {
      if (!Number.isSafeInteger(shape[k]) || shape[k] <= 0) throw new LlmError("VALIDATION", `KV cache ${k} must be a positive integer, got ${shape[k]}`);
    }
    ({ layers: this.layers, kvHeads: this.kvHeads, headDim: this.headDim, capacity: this.capacity } = shape);
    const perLayer = this.kvHeads * this.capacity * this.headDim;
    const keys = new Float32Array(this.layers * perLayer);
    const values = new Float32Array(this.layers * perLayer);
    this.keyLayers = Array.from({ length: this.layers }, (_, l) => keys.subarray(l * perLayer, (l + 1) * perLayer));
    this.valueLayers = Array.from({ length: this.layers }, (_, l) => values.subarray(l * perLayer, (l + 1) * perLayer));
  }

  /** Number of positions currently cached. */
  get length(): number {
    return this.filled;
  }

  /** Positions still free. */
  get remaining(): number {
    return this.capacity - this.filled;
  }

  /** Keys of one layer, [kvHeads][capacity][headDim]. */
  keys(layer: number): Float32Array {
    return this.keyLayers[layer];
  }

  /** Values of one layer, [kvHeads][capacity][headDim]. */
  values(layer: number): Float32Array {
    return this.valueLayers[layer];
  }

  /** Throw VALIDATION unless T tokens can be written from position `start` (start ≤ length, start + T ≤ capacity). */
  checkWrite(start: number, T: number): void {
    if (!Number.isSafeInteger(start) || start < 0 || start > this.filled) {
      throw new LlmError("VALIDATION", `start position ${start} must be within 0 ..= ${this.filled} (cached length)`);
    }
    if (start + T > this.capacity) {
      throw new LlmError("VALIDATION", `sequence of ${start + T} positions exceeds the KV cache capacity ${this.capacity}`);
    }
  }

  /** Store k, v: [T, kvHeads, headDim] of `layer` at positions start .. start+T-1. */
  write(layer: number, start: number, T: number, k: Float32Array, v: Float32Array): void {
    const { kvHeads, headDim: d, capacity } = this;
    const K = this.keyLayers[layer], V = this.valueLayers[layer];
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < kvHeads; h++) {
        const src = (t * kvHeads + h) * d;
        const dst = (h * capacity + start + t) * d;
        for (let i = 0; i < d; i++) {
          K[dst + i] = k[src + i];
          V[dst + i] = v[src + i];
        }
      }
    }
  }

  /** Mark positions 0 .. length-1 as valid (after a forward pass wrote them). */
  setLength(length: number): void {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.capacity) {
      throw new LlmError("VALIDATION", `KV cache length ${length} outside 0 ..= ${this.capacity}`);
    }
    this.filled = length;
  }

  /** Forget every cached position (storage is reused). */
  reset(): void {
    this.filled = 0;
  }
}
