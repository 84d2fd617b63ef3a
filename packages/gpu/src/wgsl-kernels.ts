/**
 * The WGSL kernels: written by hand where gpu.js cannot express a kernel, or not efficiently. gpu.js gives every
 * thread one output and has no workgroup memory, barriers or integer arrays, so it cannot:
 * - read 16-bit weights (its arrays are float32 only): matrix products and embedding lookups over float16 /
 *   bfloat16 weights unpack two values per u32 word here;
 * - share a weight row among the threads of a workgroup and reduce their partial sums: a matrix-vector product in
 *   gpu.js gives each thread a whole row to walk alone (uncoalesced reads, N threads in all); here a workgroup
 *   reads a row with coalesced 16-byte loads and reduces in workgroup memory, and matrix-matrix products stage
 *   64 × 16 tiles of both operands in workgroup memory;
 * - compute attention's softmax once per (row, head): gpu.js's kernel recomputes every score in every output
 *   dimension's thread (headDim times the work); here a workgroup scores 64 positions at a time together;
 * - reduce a row for RMSNorm in parallel (gpu.js: one thread walks the row, then a second pass scales it).
 * The same results as the gpu.js kernels, which remain the reference the cpu mode runs.
 *
 * Each kernel lists its arrays (bound in order from binding 1: inputs read-only, the last ones its outputs), its i32
 * and f32 parameters (one uniform struct, at binding 0), and its workgroup grid comes from the caller. WebGPU
 * refuses a dispatch that binds overlapping ranges of one buffer when one of them is writable, so an op whose
 * output shares a buffer with an input writes to a scratch buffer first (gpu-kernels.ts).
 */

/** Element type of a bound array. */
export type WgslArray = "f32" | "u32" | "vec4<f32>" | "vec4<u32>";

/** A WGSL kernel: bindings, parameters and the code that follows the generated prelude. */
export interface WgslKernel {
  readonly name: string;
  /** Bound arrays, in order; the last `writes` (default 1) are its outputs (read_write), the others are read. */
  readonly arrays: readonly (readonly [name: string, type: WgslArray])[];
  readonly writes?: number;
  readonly ints: readonly string[];
  readonly floats: readonly string[];
  readonly code: string;
}

/** How matrix weights are stored on the device: float32 rows, or two 16-bit values per u32 word. */
export type Storage = "f32" | "f16" | "bf16";

/** Threads of a matrix-vector workgroup, and the most activation rows one matrix-vector dispatch takes. */
export const MATVEC_WG = 64;
export const MATVEC_ROWS = 8;
/** Output tile of the matrix-matrix kernel (rows and columns). */
export const MATMUL_TILE = 64;
/** Threads of an attention workgroup (positions scored at once), and the largest head size it takes. */
export const ATTENTION_WG = 64;
export const ATTENTION_MAX_HEAD_DIM = 256;
/** Threads of an RMSNorm workgroup (one row each). */
export const NORM_WG = 256;
/** Threads of an embedding workgroup (along the row). */
export const EMBED_WG = 64;
/** Threads of an elementwise workgroup, and of a rope or KV-write workgroup (along the row). */
export const ELEMENTWISE_WG = 256;
export const ROW_WG = 64;

/** The prelude of a kernel: its parameter struct and bindings. */
export function prelude(k: WgslKernel): string {
  const fields = [...k.ints.map((n) => `  ${n}: i32,`), ...k.floats.map((n) => `  ${n}: f32,`)];
  if (fields.length === 0) fields.push("  unused: i32,");
  return [
    `struct Params {\n${fields.join("\n")}\n}`,
    "@group(0) @binding(0) var<uniform> params: Params;",
    ...k.arrays.map(([name, type], i) => `@group(0) @binding(${i + 1}) var<storage, ${i >= k.arrays.length - (k.writes ?? 1) ? "read_write" : "read"}> ${name}: array<${type}>;`),
  ].join("\n");
}

/**
 * WGSL of `wchunk(n, c)`: values 8c .. 8c + 7 of weight row n as two vec4s (rows are `chunks` chunks of 8 values,
 * zero padded; float32 rows are 2 vec4<f32> a chunk, 16-bit rows 1 vec4<u32>).
 */
function weightChunk(storage: Storage): string {
  switch (storage) {
    case "f32":
      return `fn wchunk(n: u32, c: u32) -> mat2x4<f32> {
  let i = 2u * (n * u32(params.chunks) + c);
  return mat2x4<f32>(w[i], w[i + 1u]);
}`;
    case "f16":
      return `fn wchunk(n: u32, c: u32) -> mat2x4<f32> {
  let v = w[n * u32(params.chunks) + c];
  return mat2x4<f32>(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
}`;
    case "bf16":
      return `fn bf2(u: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u));
}
fn wchunk(n: u32, c: u32) -> mat2x4<f32> {
  let v = w[n * u32(params.chunks) + c];
  return mat2x4<f32>(vec4<f32>(bf2(v.x), bf2(v.y)), vec4<f32>(bf2(v.z), bf2(v.w)));
}`;
  }
}

/** The weight array's element type for a storage. */
function weightArray(storage: Storage): WgslArray {
  return storage === "f32" ? "vec4<f32>" : "vec4<u32>";
}

/**
 * out[r, n] = Σ_k x[r, k] · w[n, k] (+ bias[n]) for R ≤ 8 rows: one workgroup per weight row n (the grid folded
 * into x·y past 65535 rows: n = wg.y · gx + wg.x), its threads reading the row's chunks in turn and reducing.
 */
function matvec(storage: Storage): WgslKernel {
  return {
    name: `matvec_${storage}`,
    arrays: [["x", "f32"], ["w", weightArray(storage)], ["bias", "f32"], ["out", "f32"]],
    ints: ["xOff", "outOff", "R", "N", "K", "chunks", "hasBias", "gx"],
    floats: [],
    code: `${weightChunk(storage)}
const WG: u32 = ${MATVEC_WG}u;
const RMAX: u32 = ${MATVEC_ROWS}u;
var<workgroup> red: array<f32, ${MATVEC_WG * MATVEC_ROWS}>;
fn xv(r: u32, k: u32) -> vec4<f32> {
  let K = u32(params.K);
  let b = u32(params.xOff) + r * K;
  var v = vec4<f32>(0.0);
  if (k + 3u < K) { return vec4<f32>(x[b + k], x[b + k + 1u], x[b + k + 2u], x[b + k + 3u]); }
  if (k < K) { v.x = x[b + k]; }
  if (k + 1u < K) { v.y = x[b + k + 1u]; }
  if (k + 2u < K) { v.z = x[b + k + 2u]; }
  return v;
}
@compute @workgroup_size(${MATVEC_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let n = wg.y * u32(params.gx) + wg.x;
  let N = u32(params.N);
  let R = u32(params.R);
  var acc: array<f32, ${MATVEC_ROWS}>;
  if (n < N) {
    for (var c = t; c < u32(params.chunks); c += WG) {
      let m = wchunk(n, c);
      for (var r = 0u; r < R; r++) {
        acc[r] += dot(m[0], xv(r, 8u * c)) + dot(m[1], xv(r, 8u * c + 4u));
      }
    }
  }
  for (var r = 0u; r < RMAX; r++) { red[r * WG + t] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var r = 0u; r < R; r++) { red[r * WG + t] += red[r * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (n < N && t < R) {
    var v = red[t * WG];
    if (params.hasBias > 0) { v += bias[n]; }
    out[u32(params.outOff) + t * N + n] = v;
  }
}`,
  };
}

/**
 * out[R, N] = x[R, K] · wᵀ (+ bias) in 64 × 64 output tiles (workgroup (n tile, r tile)), 16 values of K at a time
 * staged in workgroup memory; each of the 16 × 16 threads sums 4 × 4 outputs spaced 16 apart.
 */
function matmul(storage: Storage): WgslKernel {
  const T = MATMUL_TILE;
  return {
    name: `matmul_${storage}`,
    arrays: [["x", "f32"], ["w", weightArray(storage)], ["bias", "f32"], ["out", "f32"]],
    ints: ["xOff", "outOff", "R", "N", "K", "chunks", "hasBias"],
    floats: [],
    code: `${weightChunk(storage)}
var<workgroup> xs: array<array<f32, 17>, ${T}>;
var<workgroup> ws: array<array<f32, 17>, ${T}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.y * 16u + lid.x;
  let R = u32(params.R);
  let N = u32(params.N);
  let K = u32(params.K);
  let chunks = u32(params.chunks);
  let r0 = wg.y * ${T}u;
  let n0 = wg.x * ${T}u;
  var acc: array<f32, 16>;
  for (var c0 = 0u; c0 < chunks; c0 += 2u) {
    for (var i = 0u; i < 4u; i++) {
      let rr = t / 16u + 16u * i;
      let kk = t % 16u;
      let r = r0 + rr;
      let k = 8u * c0 + kk;
      var v = 0.0;
      if (r < R && k < K) { v = x[u32(params.xOff) + r * K + k]; }
      xs[rr][kk] = v;
    }
    if (t < ${2 * T}u) {
      let nn = t / 2u;
      let hc = t % 2u;
      var m = mat2x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0));
      if (n0 + nn < N && c0 + hc < chunks) { m = wchunk(n0 + nn, c0 + hc); }
      for (var j = 0u; j < 4u; j++) {
        ws[nn][8u * hc + j] = m[0][j];
        ws[nn][8u * hc + 4u + j] = m[1][j];
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var xr: array<f32, 4>;
      var wr: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        xr[i] = xs[lid.y + 16u * i][kk];
        wr[i] = ws[lid.x + 16u * i][kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[4u * i + j] += xr[i] * wr[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let r = r0 + lid.y + 16u * i;
      let n = n0 + lid.x + 16u * j;
      if (r < R && n < N) {
        var v = acc[4u * i + j];
        if (params.hasBias > 0) { v += bias[n]; }
        out[u32(params.outOff) + r * N + n] = v;
      }
    }
  }
}`,
  };
}

/** out[r, i] = row tokens[r] of a 16-bit table (words per row: `words`), grid (⌈D / 64⌉, R). */
function embed16(storage: "f16" | "bf16"): WgslKernel {
  const unpack = storage === "f16" ? "unpack2x16float(u)" : "vec2<f32>(bitcast<f32>(u << 16u), bitcast<f32>(u & 0xffff0000u))";
  return {
    name: `embed_${storage}`,
    arrays: [["table", "u32"], ["tab", "f32"], ["out", "f32"]],
    ints: ["D", "words", "tokensAt", "outOff"],
    floats: [],
    code: `@compute @workgroup_size(${EMBED_WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let D = u32(params.D);
  let i = g.x;
  let r = g.y;
  if (i >= D) { return; }
  let token = u32(tab[u32(params.tokensAt) + r]);
  let u = table[token * u32(params.words) + i / 2u];
  let v = ${unpack};
  out[u32(params.outOff) + r * D + i] = select(v.x, v.y, (i & 1u) == 1u);
}`,
  };
}

/**
 * Causal paged attention, one workgroup per (head, row): 64 positions scored at a time (one per thread, q in
 * workgroup memory), an online softmax across those tiles, then each thread accumulates its output dims over
 * the tile's values (reads of one value row are coalesced). kc, vc: one layer, [slots, kvHeads · headDim].
 */
function attention(): WgslKernel {
  const WG = ATTENTION_WG;
  return {
    name: "attention",
    arrays: [["q", "f32"], ["kc", "f32"], ["vc", "f32"], ["tab", "f32"], ["out", "f32"]],
    ints: ["qOff", "outOff", "positionsAt", "tableOfRowAt", "blockTablesAt", "heads", "kvHeads", "headDim", "bs", "win"],
    floats: ["scale", "cap"],
    code: `const WG: u32 = ${WG}u;
var<workgroup> qs: array<f32, ${ATTENTION_MAX_HEAD_DIM}>;
var<workgroup> pr: array<f32, ${WG}>;
var<workgroup> slots: array<u32, ${WG}>;
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> bounds: vec2<u32>;
fn capped(s: f32) -> f32 {
  if (params.cap <= 0.0) { return s; }
  let v = s / params.cap;
  let e = exp(-2.0 * abs(v));
  return params.cap * sign(v) * ((1.0 - e) / (1.0 + e));
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let h = wg.x;
  let r = wg.y;
  let d = u32(params.headDim);
  let heads = u32(params.heads);
  let kvHeads = u32(params.kvHeads);
  let kvDim = kvHeads * d;
  let kvh = h / (heads / kvHeads);
  let bs = u32(params.bs);
  let tableAt = u32(params.blockTablesAt) + u32(tab[u32(params.tableOfRowAt) + r]);
  if (t == 0u) {
    let p = u32(tab[u32(params.positionsAt) + r]);
    var first = 0u;
    if (params.win > 0 && p + 1u > u32(params.win)) { first = p + 1u - u32(params.win); }
    bounds = vec2<u32>(first, p);
  }
  let b = workgroupUniformLoad(&bounds);
  let qo = u32(params.qOff) + (r * heads + h) * d;
  for (var i = t; i < d; i += WG) { qs[i] = q[qo + i]; }
  workgroupBarrier();
  var m = -3.0e38;
  var l = 0.0;
  var acc = array<f32, ${ATTENTION_MAX_HEAD_DIM / WG}>();
  for (var j0 = b.x; j0 <= b.y; j0 += WG) {
    let j = j0 + t;
    var s = -3.0e38;
    if (j <= b.y) {
      let slot = u32(tab[tableAt + j / bs]) * bs + j % bs;
      slots[t] = slot;
      let base = slot * kvDim + kvh * d;
      var dot = 0.0;
      for (var e = 0u; e < d; e++) { dot += qs[e] * kc[base + e]; }
      s = capped(dot * params.scale);
    }
    red[t] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (t < w) { red[t] = max(red[t], red[t + w]); }
      workgroupBarrier();
    }
    let mNew = max(m, red[0]);
    workgroupBarrier();
    var ex = 0.0;
    if (j <= b.y) { ex = exp(s - mNew); }
    pr[t] = ex;
    red[t] = ex;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
      if (t < w) { red[t] += red[t + w]; }
      workgroupBarrier();
    }
    let c = exp(m - mNew);
    l = l * c + red[0];
    m = mNew;
    let n = min(WG, b.y + 1u - j0);
    for (var k = 0u; k < ${ATTENTION_MAX_HEAD_DIM / WG}u; k++) {
      let i = t + k * WG;
      if (i < d) {
        var a = acc[k] * c;
        for (var jj = 0u; jj < n; jj++) { a += pr[jj] * vc[slots[jj] * kvDim + kvh * d + i]; }
        acc[k] = a;
      }
    }
    workgroupBarrier();
  }
  for (var k = 0u; k < ${ATTENTION_MAX_HEAD_DIM / WG}u; k++) {
    let i = t + k * WG;
    if (i < d) { out[u32(params.outOff) + (r * heads + h) * d + i] = acc[k] / l; }
  }
}`,
  };
}

/** RMSNorm of one row per workgroup: the sum of squares reduced in workgroup memory, then x · inv · w (in place allowed). */
function rmsnorm(): WgslKernel {
  return {
    name: "rmsnorm",
    arrays: [["x", "f32"], ["w", "f32"], ["out", "f32"]],
    ints: ["xOff", "outOff", "D"],
    floats: ["eps"],
    code: `const WG: u32 = ${NORM_WG}u;
var<workgroup> red: array<f32, ${NORM_WG}>;
@compute @workgroup_size(${NORM_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let D = u32(params.D);
  let xo = u32(params.xOff) + wg.x * D;
  let oo = u32(params.outOff) + wg.x * D;
  var ss = 0.0;
  for (var i = t; i < D; i += WG) { let v = x[xo + i]; ss += v * v; }
  red[t] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(red[0] / f32(D) + params.eps);
  for (var i = t; i < D; i += WG) { out[oo + i] = x[xo + i] * inv * w[i]; }
}`,
  };
}

/** The WGSL of activation `act` (0 silu, 1 gelu_tanh, 2 relu²) of v, as the gpu.js kernels compute it. */
const ACTIVATE = `fn activate(v: f32, act: i32) -> f32 {
  if (act == 0) { return v / (1.0 + exp(-v)); }
  if (act == 1) {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    let e = exp(-2.0 * abs(u));
    return 0.5 * v * (1.0 + sign(u) * ((1.0 - e) / (1.0 + e)));
  }
  if (v > 0.0) { return v * v; }
  return 0.0;
}`;

/** The flat index of an elementwise thread, its 1D grid folded into x · y past 65535 workgroups. */
const FLAT = `let i = (wg.y * u32(params.gx) + wg.x) * ${ELEMENTWISE_WG}u + t;
  if (i >= u32(params.n)) { return; }`;

/**
 * In place: out[i] += b[i] (residual adds; one binding of the output buffer, which a gpu.js kernel cannot do: its
 * output is a binding of its own, and WebGPU refuses a writable binding overlapping another).
 */
function addInPlace(): WgslKernel {
  return {
    name: "add_inplace",
    arrays: [["b", "f32"], ["out", "f32"]],
    ints: ["bOff", "outOff", "n", "gx"],
    floats: [],
    code: `@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  ${FLAT}
  out[u32(params.outOff) + i] += b[u32(params.bOff) + i];
}`,
  };
}

/** In place on the gate: gate[i] = act(gate[i]) · up[i]. */
function gluInPlace(): WgslKernel {
  return {
    name: "glu_inplace",
    arrays: [["up", "f32"], ["gate", "f32"]],
    ints: ["upOff", "gateOff", "n", "gx", "act"],
    floats: [],
    code: `${ACTIVATE}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  ${FLAT}
  let g = u32(params.gateOff) + i;
  gate[g] = activate(gate[g], params.act) * up[u32(params.upOff) + i];
}`,
  };
}

/** RoPE in place, one thread per rotated pair (i, i + half) of head y of row z; grid (⌈half / 64⌉, heads, R). */
function ropeInPlace(): WgslKernel {
  return {
    name: "rope_inplace",
    arrays: [["cos", "f32"], ["sin", "f32"], ["tab", "f32"], ["x", "f32"]],
    ints: ["xOff", "positionsAt", "heads", "headDim", "half"],
    floats: [],
    code: `@compute @workgroup_size(${ROW_WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let half = u32(params.half);
  if (g.x >= half) { return; }
  let p = u32(tab[u32(params.positionsAt) + g.z]);
  let o = u32(params.xOff) + (g.z * u32(params.heads) + g.y) * u32(params.headDim) + g.x;
  let c = cos[p * half + g.x];
  let s = sin[p * half + g.x];
  let a = x[o];
  let e = x[o + half];
  x[o] = a * c - e * s;
  x[o + half] = e * c + a * s;
}`,
  };
}

/** Stores rows of k and v at their KV slots (one layer's buffers, [slots, dim]); grid (⌈dim / 64⌉, R). */
function kvWrite(): WgslKernel {
  return {
    name: "kv_write",
    arrays: [["k", "f32"], ["v", "f32"], ["tab", "f32"], ["kc", "f32"], ["vc", "f32"]],
    writes: 2,
    ints: ["kOff", "vOff", "slotsAt", "dim"],
    floats: [],
    code: `@compute @workgroup_size(${ROW_WG})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let dim = u32(params.dim);
  if (g.x >= dim) { return; }
  let slot = u32(tab[u32(params.slotsAt) + g.y]);
  kc[slot * dim + g.x] = k[u32(params.kOff) + g.y * dim + g.x];
  vc[slot * dim + g.x] = v[u32(params.vOff) + g.y * dim + g.x];
}`,
  };
}

/**
 * Reads a whole buffer once (what bounds a decode step, which reads every weight once): each workgroup sums its
 * share of vec4s, grid-strided, into out[workgroup]. Used to measure the device's memory bandwidth.
 */
function bandwidth(): WgslKernel {
  return {
    name: "bandwidth",
    arrays: [["data", "vec4<f32>"], ["out", "f32"]],
    ints: ["n4"],
    floats: [],
    code: `var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  var acc = vec4<f32>(0.0);
  let stride = groups.x * 256u;
  for (var i = wg.x * 256u + t; i < u32(params.n4); i += stride) { acc += data[i]; }
  red[t] = acc.x + acc.y + acc.z + acc.w;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) { out[wg.x] = red[0]; }
}`,
  };
}

/** Every WGSL kernel by name. */
export const WGSL_KERNELS: Readonly<Record<string, WgslKernel>> = Object.fromEntries(
  [
    matvec("f32"), matvec("f16"), matvec("bf16"), matmul("f32"), matmul("f16"), matmul("bf16"), embed16("f16"), embed16("bf16"),
    attention(), rmsnorm(), addInPlace(), gluInPlace(), ropeInPlace(), kvWrite(), bandwidth(),
  ].map((k) => [k.name, k]),
);

/** The WGSL module of a kernel: prelude, then its code. */
export function wgslSource(k: WgslKernel): string {
  return `${prelude(k)}\n${k.code}\n`;
}
