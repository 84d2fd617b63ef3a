/**
 * The kernel interface every backend implements (`js` now; wasm SIMD and gpu.js later).
 *
 * Conventions: activations are caller-owned Float32Array scratch, row-major, written in place or into
 * `out`; kernels never allocate. Weights are F32 tensors handed over once at load (`prepareWeight`) and
 * never written afterwards, so a backend may keep its own copy (a GPU texture) keyed by the tensor.
 * A backend that does not support an op says so through `supports`; callers fall back to `js`.
 */
import type { F32Tensor } from "./tensor.js";

/** Names of the kernels in the interface. */
export type Op = "matmul" | "rmsnorm" | "rope" | "softmax" | "swiglu" | "add" | "embedding" | "attention";

/** All op names, for backends and tests that iterate over them. */
export const OPS: readonly Op[] = ["matmul", "rmsnorm", "rope", "softmax", "swiglu", "add", "embedding", "attention"];

/** Shape of one causal grouped-query attention call. */
export interface AttentionShape {
  /** New query positions in this call. */
  readonly tokens: number;
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads; `heads` is a multiple of it and query head h reads kv head ⌊h / (heads / kvHeads)⌋. */
  readonly kvHeads: number;
  readonly headDim: number;
  /** Absolute position of the first new token; token t attends to cached positions 0 ..= start + t. */
  readonly start: number;
  /** Positions reserved per kv head in the cache (its second axis). */
  readonly capacity: number;
}

/** A set of kernels. */
export interface Backend {
  /** Short identifier ("js", "wasm", "gpu"). */
  readonly name: string;
  /** True when this backend implements `op`. */
  supports(op: Op): boolean;
  /** Optional hook: called once per weight at load so the backend can stage it (e.g. upload to a GPU). */
  prepareWeight?(weight: F32Tensor): void;

  /** out[T, N] = x[T, K] · wᵀ with w: [N, K] (HF Linear layout, out_features × in_features). */
  matmul(out: Float32Array, x: Float32Array, w: F32Tensor, T: number): void;
  /** out[T, D] = x[t] / sqrt(mean(x[t]²) + eps) * weight, for each row t; weight: [D]. out may alias x. */
  rmsnorm(out: Float32Array, x: Float32Array, weight: F32Tensor, T: number, eps: number): void;
  /**
   * In-place rotary embedding, "rotate_half" pairing (i, i + headDim/2). x: [T, heads, headDim];
   * cos, sin: [positions, headDim/2]; row t is rotated by position start + t.
   */
  rope(x: Float32Array, cos: Float32Array, sin: Float32Array, start: number, T: number, heads: number, headDim: number): void;
  /** In-place softmax of x[0 .. n). */
  softmax(x: Float32Array, n: number): void;
  /** out[i] = silu(gate[i]) * up[i] for i < n; out may alias gate or up. */
  swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void;
  /** out[i] = a[i] + b[i] for i < n; out may alias a or b. */
  add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void;
  /** out[T, D] = table[ids[t]] with table: [V, D]; ids must be in range. */
  embedding(out: Float32Array, table: F32Tensor, ids: ArrayLike<number>, T: number): void;
  /**
   * Causal GQA attention. q, out: [T, heads, headDim]; k, v: [kvHeads, capacity, headDim] already holding
   * positions 0 .. start+T-1; scores: scratch of at least start + T. Scale 1/sqrt(headDim).
   */
  attention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, scores: Float32Array, shape: AttentionShape): void;
}
