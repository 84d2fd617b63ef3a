/**
 * The wasm op records, written once: each op's opcode and its named argument slots, in record order. The recorder
 * (recorder.ts) writes a record's arguments by these names; `scripts/build-wasm.mjs` generates from this table the
 * AssemblyScript view the interpreter reads them through (`assembly/op-records.ts`: one unmanaged class per op
 * over the record, and the opcodes), so the two sides cannot disagree on a layout.
 *
 * A record is 32 words: opcode, flags, chunks, chunk size, then the arguments, one word each: `ptr` (an address),
 * `i32` (a count or a code) or `f32`. A new op is one row here, one `case` in `assembly/index.ts`, one recorder call.
 */

/** How one argument word is read: an address, an integer, or a float. */
export type SlotType = "ptr" | "i32" | "f32";

/** One op's record layout: its opcode and its arguments in order. */
export interface OpSpec {
  readonly code: number;
  readonly args: Readonly<Record<string, SlotType>>;
}

/** Words of one record. */
export const RECORD_WORDS = 32;
/** Words before the arguments: opcode, flags, chunks, chunk size. */
export const HEADER_WORDS = 4;

/**
 * The arguments of the float32 / float16 / bfloat16 products: out[rows, N] = x[rows, K] · wᵀ (+ bias; 0 = none), or
 * out += that when `accumulate` is 1 (every product has it).
 */
const product = { out: "ptr", x: "ptr", w: "ptr", rows: "i32", N: "i32", K: "i32", bias: "ptr", accumulate: "i32" } as const;

/** Every op of the wasm interpreter. */
export const OP_TABLE = {
  matmulF32: { code: 1, args: product },
  matmulF16: { code: 2, args: product },
  matmulBF16: { code: 3, args: product },
  /** x: int8 activations (as i16, rows of Kp), scales: their row scales. */
  matmulI8: { code: 4, args: { out: "ptr", x: "ptr", scales: "ptr", w: "ptr", rows: "i32", N: "i32", Kp: "i32", bias: "ptr", accumulate: "i32" } },
  /** q4 weights (blocks of 32 with a half scale) times int8 activations (as `matmulI8` takes them). */
  matmulQ4: { code: 31, args: { out: "ptr", x: "ptr", scales: "ptr", w: "ptr", rows: "i32", N: "i32", Kp: "i32", bias: "ptr", accumulate: "i32" } },
  quantize: { code: 5, args: { q: "ptr", scales: "ptr", x: "ptr", rows: "i32", K: "i32", Kp: "i32" } },
  rmsnorm: { code: 6, args: { out: "ptr", x: "ptr", w: "ptr", rows: "i32", D: "i32", eps: "f32" } },
  layernorm: { code: 7, args: { out: "ptr", x: "ptr", w: "ptr", b: "ptr", rows: "i32", D: "i32", eps: "f32" } },
  rope: { code: 8, args: { x: "ptr", cos: "ptr", sin: "ptr", positions: "ptr", rows: "i32", heads: "i32", headDim: "i32", rotaryDim: "i32" } },
  kvWrite: { code: 9, args: { K: "ptr", V: "ptr", k: "ptr", v: "ptr", slots: "ptr", rows: "i32", kvHeads: "i32", headDim: "i32", blockSize: "i32" } },
  /** Every sequence of a step in one op, cut in units of (tile of rows, KV head); tiles: [first row, rows] per tile. */
  attention: {
    code: 10,
    args: {
      out: "ptr", q: "ptr", K: "ptr", V: "ptr", positions: "ptr", seqOf: "ptr", sequences: "ptr", tables: "ptr", tiles: "ptr",
      tileCount: "i32", heads: "i32", kvHeads: "i32", headDim: "i32", scale: "f32", window: "i32", softcap: "f32", blockSize: "i32",
    },
  },
  glu: { code: 11, args: { out: "ptr", gate: "ptr", up: "ptr", n: "i32", act: "i32" } },
  activation: { code: 12, args: { out: "ptr", x: "ptr", n: "i32", act: "i32" } },
  add: { code: 13, args: { out: "ptr", a: "ptr", b: "ptr", n: "i32" } },
  scale: { code: 14, args: { out: "ptr", x: "ptr", s: "f32", n: "i32" } },
  softcap: { code: 15, args: { out: "ptr", x: "ptr", cap: "f32", n: "i32" } },
  embed: { code: 16, args: { out: "ptr", table: "ptr", tokens: "ptr", rows: "i32", K: "i32", format: "i32" } },
  gather: { code: 17, args: { out: "ptr", x: "ptr", outputRows: "ptr", outputs: "i32", width: "i32" } },
  /** The memory bandwidth probe: one partial sum per chunk at out + 16·chunk. */
  sum: { code: 18, args: { out: "ptr", data: "ptr", n: "i32" } },
  /** scale: 2⁵⁶ for float16 weights (their products run on pre-scaled activations), 1 for bfloat16. */
  prepareHalves: { code: 19, args: { out: "ptr", x: "ptr", rows: "i32", K: "i32", scale: "f32" } },
  prepareTernary: { code: 20, args: { q: "ptr", scales: "ptr", sums: "ptr", x: "ptr", rows: "i32", K: "i32", Kp: "i32" } },
  matmulTernary: {
    code: 21,
    args: { out: "ptr", x: "ptr", scales: "ptr", sums: "ptr", w: "ptr", rows: "i32", N: "i32", Kp: "i32", bias: "ptr", accumulate: "i32" },
  },
  embedTernary: { code: 22, args: { out: "ptr", table: "ptr", tokens: "ptr", rows: "i32", N: "i32", K: "i32" } },
  addPositions: { code: 30, args: { x: "ptr", table: "ptr", positions: "ptr", rows: "i32", width: "i32" } },
  // ---- fused ops: what runs back to back on the same rows, in one op (no barrier between the parts) ----
  /** rmsnorm, then its rows quantized for int8 weights (`quantize`'s q, scales, Kp), chunks of rows. */
  rmsnormQuantize: { code: 40, args: { out: "ptr", x: "ptr", w: "ptr", rows: "i32", D: "i32", eps: "f32", q: "ptr", scales: "ptr", Kp: "i32" } },
  /** rmsnorm, then its rows prepared for ternary weights (`prepareTernary`'s q, scales, sums, Kp), chunks of rows. */
  rmsnormTernary: {
    code: 41,
    args: { out: "ptr", x: "ptr", w: "ptr", rows: "i32", D: "i32", eps: "f32", q: "ptr", scales: "ptr", sums: "ptr", Kp: "i32" },
  },
  /** rope of q ([rows, heads, headDim]) and of k ([rows, kvHeads, headDim]) in one op, chunks of (row, head) units of both. */
  ropeQk: {
    code: 44,
    args: { q: "ptr", k: "ptr", cos: "ptr", sin: "ptr", positions: "ptr", rows: "i32", heads: "i32", kvHeads: "i32", headDim: "i32", rotaryDim: "i32" },
  },
  /** ropeQk, then each (row, KV head)'s rotated key and its value stored in the cache (`kvWrite`'s K, V, v, slots, blockSize). */
  ropeKvWrite: {
    code: 45,
    args: {
      q: "ptr", k: "ptr", cos: "ptr", sin: "ptr", positions: "ptr", rows: "i32", heads: "i32", kvHeads: "i32", headDim: "i32", rotaryDim: "i32",
      K: "ptr", V: "ptr", v: "ptr", slots: "ptr", blockSize: "i32",
    },
  },
  /** glu over rows of `width` values, then those rows quantized for int8 weights, chunks of rows. */
  gluQuantize: {
    code: 42,
    args: { out: "ptr", gate: "ptr", up: "ptr", rows: "i32", width: "i32", act: "i32", q: "ptr", scales: "ptr", Kp: "i32" },
  },
  /**
   * out = act(x · gateᵀ) ⊙ (x · upᵀ), chunks of output columns: each chunk runs both products over its columns (the up
   * values into `up`), then the gated activation on them. x, scales, sums: the activations as the format's product
   * takes them; format: 0 float32, 1 float16, 2 bfloat16, 3 int8, 4 ternary, 5 q4.
   */
  gatedMatmul: {
    code: 43,
    args: {
      out: "ptr", up: "ptr", x: "ptr", scales: "ptr", sums: "ptr", wGate: "ptr", wUp: "ptr",
      rows: "i32", N: "i32", K: "i32", Kp: "i32", act: "i32", format: "i32",
    },
  },
} as const satisfies Readonly<Record<string, OpSpec>>;

/** An op's name. */
export type OpName = keyof typeof OP_TABLE;

/** An op's arguments by name (every slot of its record). */
export type OpArgs<N extends OpName> = { readonly [A in keyof (typeof OP_TABLE)[N]["args"]]: number };

/**
 * RangeError unless every op has a distinct positive opcode and fits its record (what the wasm build checks before
 * generating the interpreter's view).
 */
export function checkOpTable(table: Readonly<Record<string, OpSpec>> = OP_TABLE): void {
  const codes = new Map<number, string>();
  for (const [name, spec] of Object.entries(table)) {
    if (!Number.isSafeInteger(spec.code) || spec.code <= 0) throw new RangeError(`op ${name}: opcode ${spec.code} must be an integer ≥ 1`);
    const other = codes.get(spec.code);
    if (other !== undefined) throw new RangeError(`ops ${other} and ${name} share opcode ${spec.code}`);
    codes.set(spec.code, name);
    const slots = Object.keys(spec.args).length;
    if (HEADER_WORDS + slots > RECORD_WORDS) throw new RangeError(`op ${name}: ${slots} arguments do not fit a record of ${RECORD_WORDS} words`);
  }
}
