/**
 * The gpu.js kernels: one output value per thread, written in the JavaScript subset gpu.js translates (to WGSL
 * for WebGPU) or runs as it is (its `cpu` mode, in CI). Every op of the forward pass has one here.
 *
 * Rules these sources keep, because gpu.js declares every local variable as f32 (only `for` counters that start
 * at a literal are i32) and WGSL's f32 division is not exact (2.5 ULP):
 * - an index is computed inline from thread ids, integer arguments and loop counters, or from a float table
 *   value through `| 0`, so it stays i32 end to end (weights and caches exceed 2^24 elements);
 * - no `/` or `%` in an index: a multi-dimensional grid gives row and column directly (x is the fastest axis),
 *   and loops walk blocks of positions;
 * - tables (token ids, positions, block tables) are float arrays: gpu.js has no integer arrays; their values stay
 *   far below 2^24, where float32 holds integers exactly.
 * - every loop counter of a kernel has a name of its own (gpu.js's cpu mode hoists them to one scope).
 * Arrays are whole buffers; every one comes with its element offset (a view), so nothing needs an aligned binding.
 */

/** What gpu.js gives a kernel as `this`. */
export interface KernelThis {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
}

/** Kinds of kernel arguments: a float array, or an i32 / f32 scalar. */
export type ArgKind = "array" | "int" | "float";

/** A gpu.js kernel: its source function and its arguments' kinds, in the function's order. */
export interface GpuJsKernel {
  readonly name: string;
  // The source is parsed by gpu.js, never called with `this` from TypeScript.
  readonly source: (this: KernelThis, ...args: never[]) => number;
  readonly args: readonly (readonly [name: string, kind: ArgKind])[];
  /** Grid rank: thread.x only, x and y, or x, y and z. */
  readonly rank: 1 | 2 | 3;
}

/** Activation codes the elementwise kernels take (see Activation in kernels.ts). */
export const ACT = { silu: 0, gelu_tanh: 1, relu2: 2 } as const;

// ---- grid [n]: elementwise ----

/** out[t] = x[xOff + t]. */
function copy(this: KernelThis, x: Float32Array, xOff: number): number {
  return x[xOff + this.thread.x];
}

/** out[t] = a[aOff + t] + b[bOff + t]. */
function add(this: KernelThis, a: Float32Array, aOff: number, b: Float32Array, bOff: number): number {
  return a[aOff + this.thread.x] + b[bOff + this.thread.x];
}

/** out[t] = x[xOff + t] · s. */
function scale(this: KernelThis, x: Float32Array, xOff: number, s: number): number {
  return x[xOff + this.thread.x] * s;
}

/** out[t] = cap · tanh(x / cap), tanh from exp(−2|v|) so that large |v| cannot overflow. */
function softcap(this: KernelThis, x: Float32Array, xOff: number, cap: number): number {
  const v = x[xOff + this.thread.x] / cap;
  const e = Math.exp(-2 * Math.abs(v));
  return cap * Math.sign(v) * ((1 - e) / (1 + e));
}

/** out[t] = act(x[xOff + t]) (act: 0 silu, 1 gelu_tanh, 2 relu²). */
function activation(this: KernelThis, x: Float32Array, xOff: number, act: number): number {
  const v = x[xOff + this.thread.x];
  if (act === 0) {
    return v / (1 + Math.exp(-v));
  }
  if (act === 1) {
    const u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    const e = Math.exp(-2 * Math.abs(u));
    return 0.5 * v * (1 + Math.sign(u) * ((1 - e) / (1 + e)));
  }
  if (v > 0) {
    return v * v;
  }
  return 0;
}

/** out[t] = act(gate[gOff + t]) · up[uOff + t]. */
function glu(this: KernelThis, gate: Float32Array, gOff: number, up: Float32Array, uOff: number, act: number): number {
  const v = gate[gOff + this.thread.x];
  const u = up[uOff + this.thread.x];
  if (act === 0) {
    return (v / (1 + Math.exp(-v))) * u;
  }
  if (act === 1) {
    const w = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    const e = Math.exp(-2 * Math.abs(w));
    return 0.5 * v * (1 + Math.sign(w) * ((1 - e) / (1 + e))) * u;
  }
  if (v > 0) {
    return v * v * u;
  }
  return 0;
}

// ---- norms: per-row statistics, then a [D, R] pass ----

/** grid [R]: 1 / √(mean(x[r]²) + eps) of each row of D values. */
function rmsStats(this: KernelThis, x: Float32Array, xOff: number, D: number, eps: number): number {
  let ss = 0;
  for (let k = 0; k < D; k++) {
    ss += x[xOff + this.thread.x * D + k] * x[xOff + this.thread.x * D + k];
  }
  return 1 / Math.sqrt(ss / D + eps);
}

/** grid [2, R]: per row, x = 0 its mean, x = 1 its 1 / √(variance + eps). */
function layerStats(this: KernelThis, x: Float32Array, xOff: number, D: number, eps: number): number {
  let mean = 0;
  for (let k = 0; k < D; k++) {
    mean += x[xOff + this.thread.y * D + k];
  }
  mean = mean / D;
  if (this.thread.x === 0) {
    return mean;
  }
  let v = 0;
  for (let j = 0; j < D; j++) {
    v += (x[xOff + this.thread.y * D + j] - mean) * (x[xOff + this.thread.y * D + j] - mean);
  }
  return 1 / Math.sqrt(v / D + eps);
}

/** grid [D, R]: RMSNorm's scaling, x · inv[r] · w. */
function rmsApply(this: KernelThis, x: Float32Array, xOff: number, st: Float32Array, w: Float32Array, D: number): number {
  return x[xOff + this.thread.y * D + this.thread.x] * st[this.thread.y] * w[this.thread.x];
}

/** grid [D, R]: LayerNorm's scaling, (x − mean[r]) · inv[r] · w + b. */
function layerApply(this: KernelThis, x: Float32Array, xOff: number, st: Float32Array, w: Float32Array, b: Float32Array, D: number): number {
  return (x[xOff + this.thread.y * D + this.thread.x] - st[2 * this.thread.y]) * st[2 * this.thread.y + 1] * w[this.thread.x] + b[this.thread.x];
}

// ---- matrix products, embedding, gather ----

/** grid [N, R]: Σ_k x[r, k] · w[n, k] (+ bias[n]); w is [N, Kp] float32, rows padded to Kp. */
function matmul(this: KernelThis, x: Float32Array, xOff: number, w: Float32Array, Kp: number, K: number, bias: Float32Array, hasBias: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) {
    s += x[xOff + this.thread.y * K + k] * w[this.thread.x * Kp + k];
  }
  if (hasBias > 0) {
    return s + bias[this.thread.x];
  }
  return s;
}

/** grid [D, R]: row r of the output is table row tokens[r] ([V, Kp] float32, first D values). */
function embed(this: KernelThis, table: Float32Array, Kp: number, tab: Float32Array, tokensAt: number): number {
  return table[(tab[tokensAt + this.thread.y] | 0) * Kp + this.thread.x];
}

/** grid [W, O]: output row j is row outputRows[j] of x. */
function gather(this: KernelThis, x: Float32Array, xOff: number, W: number, tab: Float32Array, outputsAt: number): number {
  return x[xOff + (tab[outputsAt + this.thread.y] | 0) * W + this.thread.x];
}

/** grid [W, R]: x[r] + table[position of row r] (learned positions; table [positions · W]). */
function addPositions(this: KernelThis, x: Float32Array, xOff: number, table: Float32Array, W: number, tab: Float32Array, positionsAt: number): number {
  return x[xOff + this.thread.y * W + this.thread.x] + table[(tab[positionsAt + this.thread.y] | 0) * W + this.thread.x];
}

// ---- positions and attention ----

/**
 * grid [headDim, heads, R]: rotate-half RoPE of x[r, h] by row r's position, out of place (pairs i, i + half with
 * half = rot / 2; dims past rot unchanged). cos, sin: [positions, half].
 */
function rope(
  this: KernelThis, x: Float32Array, xOff: number, cos: Float32Array, sin: Float32Array, tab: Float32Array, positionsAt: number,
  heads: number, headDim: number, half: number,
): number {
  if (this.thread.x >= 2 * half) {
    return x[xOff + (this.thread.z * heads + this.thread.y) * headDim + this.thread.x];
  }
  if (this.thread.x < half) {
    return x[xOff + (this.thread.z * heads + this.thread.y) * headDim + this.thread.x] * cos[(tab[positionsAt + this.thread.z] | 0) * half + this.thread.x] -
      x[xOff + (this.thread.z * heads + this.thread.y) * headDim + this.thread.x + half] * sin[(tab[positionsAt + this.thread.z] | 0) * half + this.thread.x];
  }
  return x[xOff + (this.thread.z * heads + this.thread.y) * headDim + this.thread.x] * cos[(tab[positionsAt + this.thread.z] | 0) * half + this.thread.x - half] +
    x[xOff + (this.thread.z * heads + this.thread.y) * headDim + this.thread.x - half] * sin[(tab[positionsAt + this.thread.z] | 0) * half + this.thread.x - half];
}

/**
 * grid [headDim, heads, R]: causal attention of row r, head h, output dim x over its sequence's cached positions
 * (from the window's start to its own position), one pass with a running max (online softmax). kc, vc: one layer
 * of the cache, [slots, kvHeads · headDim] (slot = block · bs + offset); the row's block table starts at
 * tab[tableOfRowAt + r] within the block tables at tab[blockTablesAt].
 */
function attention(
  this: KernelThis, q: Float32Array, qOff: number, kc: Float32Array, vc: Float32Array, tab: Float32Array,
  positionsAt: number, tableOfRowAt: number, blockTablesAt: number, heads: number, kvHeads: number, headDim: number,
  bs: number, scale: number, win: number, cap: number,
): number {
  const p = tab[positionsAt + this.thread.z];
  let from = 0;
  if (win > 0) {
    from = Math.max(0, p - win + 1);
  }
  let kvh = 0;                                               // ⌊h / (heads / kvHeads)⌋, without a division
  for (let g = 1; g < kvHeads; g++) {
    if (this.thread.y * kvHeads >= g * heads) {
      kvh = g;
    }
  }
  let m = -3.0e38;
  let l = 0;
  let acc = 0;
  for (let b = 0; b * bs <= p; b++) {
    for (let o = 0; o < bs; o++) {
      if (b * bs + o >= from && b * bs + o <= p) {
        let dot = 0;
        for (let e = 0; e < headDim; e++) {
          dot += q[qOff + (this.thread.z * heads + this.thread.y) * headDim + e] *
            kc[((tab[blockTablesAt + (tab[tableOfRowAt + this.thread.z] | 0) + b] | 0) * bs + o) * kvHeads * headDim + (kvh | 0) * headDim + e];
        }
        let s = dot * scale;
        if (cap > 0) {
          const e2 = Math.exp(-2 * Math.abs(s / cap));
          s = cap * Math.sign(s) * ((1 - e2) / (1 + e2));
        }
        const mNew = Math.max(m, s);
        const c = Math.exp(m - mNew);
        const ex = Math.exp(s - mNew);
        l = l * c + ex;
        acc = acc * c + ex * vc[((tab[blockTablesAt + (tab[tableOfRowAt + this.thread.z] | 0) + b] | 0) * bs + o) * kvHeads * headDim + (kvh | 0) * headDim + this.thread.x];
        m = mNew;
      }
    }
  }
  return acc / l;
}

/** Every gpu.js kernel by name, with its arguments' kinds. */
export const GPUJS_KERNELS = {
  copy: { name: "copy", source: copy, rank: 1, args: [["x", "array"], ["xOff", "int"]] },
  add: { name: "add", source: add, rank: 1, args: [["a", "array"], ["aOff", "int"], ["b", "array"], ["bOff", "int"]] },
  scale: { name: "scale", source: scale, rank: 1, args: [["x", "array"], ["xOff", "int"], ["s", "float"]] },
  softcap: { name: "softcap", source: softcap, rank: 1, args: [["x", "array"], ["xOff", "int"], ["cap", "float"]] },
  activation: { name: "activation", source: activation, rank: 1, args: [["x", "array"], ["xOff", "int"], ["act", "int"]] },
  glu: { name: "glu", source: glu, rank: 1, args: [["gate", "array"], ["gOff", "int"], ["up", "array"], ["uOff", "int"], ["act", "int"]] },
  rmsStats: { name: "rmsStats", source: rmsStats, rank: 1, args: [["x", "array"], ["xOff", "int"], ["D", "int"], ["eps", "float"]] },
  layerStats: { name: "layerStats", source: layerStats, rank: 2, args: [["x", "array"], ["xOff", "int"], ["D", "int"], ["eps", "float"]] },
  rmsApply: { name: "rmsApply", source: rmsApply, rank: 2, args: [["x", "array"], ["xOff", "int"], ["st", "array"], ["w", "array"], ["D", "int"]] },
  layerApply: {
    name: "layerApply", source: layerApply, rank: 2,
    args: [["x", "array"], ["xOff", "int"], ["st", "array"], ["w", "array"], ["b", "array"], ["D", "int"]],
  },
  matmul: {
    name: "matmul", source: matmul, rank: 2,
    args: [["x", "array"], ["xOff", "int"], ["w", "array"], ["Kp", "int"], ["K", "int"], ["bias", "array"], ["hasBias", "int"]],
  },
  embed: { name: "embed", source: embed, rank: 2, args: [["table", "array"], ["Kp", "int"], ["tab", "array"], ["tokensAt", "int"]] },
  gather: { name: "gather", source: gather, rank: 2, args: [["x", "array"], ["xOff", "int"], ["W", "int"], ["tab", "array"], ["outputsAt", "int"]] },
  addPositions: {
    name: "addPositions", source: addPositions, rank: 2,
    args: [["x", "array"], ["xOff", "int"], ["table", "array"], ["W", "int"], ["tab", "array"], ["positionsAt", "int"]],
  },
  rope: {
    name: "rope", source: rope, rank: 3,
    args: [["x", "array"], ["xOff", "int"], ["cos", "array"], ["sin", "array"], ["tab", "array"], ["positionsAt", "int"], ["heads", "int"], ["headDim", "int"], ["half", "int"]],
  },
  attention: {
    name: "attention", source: attention, rank: 3,
    args: [
      ["q", "array"], ["qOff", "int"], ["kc", "array"], ["vc", "array"], ["tab", "array"], ["positionsAt", "int"], ["tableOfRowAt", "int"],
      ["blockTablesAt", "int"], ["heads", "int"], ["kvHeads", "int"], ["headDim", "int"], ["bs", "int"], ["scale", "float"], ["win", "int"],
      ["cap", "float"],
    ],
  },
} as const satisfies Record<string, GpuJsKernel>;

/** Name of a gpu.js kernel. */
export type GpuJsKernelName = keyof typeof GPUJS_KERNELS;
