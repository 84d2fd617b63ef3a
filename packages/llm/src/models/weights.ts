/**
 * Checked weight loading: each tensor must exist, be a float dtype and have the shape the config implies; it
 * is read, converted to its storage format in the kernels' memory, and dropped (the checkpoint is never held
 * whole); unless told not to, every value is checked to be finite as it passes. Blocks describe the weights they
 * need as specs; the loader is given every spec up front, so the progress total is counted, never hard-coded.
 */
import {
  bf16BitsToF32, f16BitsToF32, firstNonFinite, matrixBytes,
  type Kernels, type ProgressCallback, type TensorInfo, type TensorSource, type TernarySource, type Weight, type WeightFormat,
} from "@actorlm/tensor";
import { LlmError } from "../errors.js";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/**
 * One weight a block needs: its checkpoint tensor name and the shape the config implies — [N, K] for a matrix (stored
 * in the model's format), [n] for a vector (float32).
 */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Transform applied to the float32 values before storing (e.g. Gemma's 1 + w norms). */
  readonly map?: (values: Float32Array) => void;
  /** Storage format of this matrix when it is not the model's (BitNet's ternary linears, the float head beside them). */
  readonly format?: WeightFormat;
  /**
   * Reads and checks a tensor stored other than as floats (a packed ternary checkpoint), throwing MODEL_LOAD naming
   * it; the loader then stores what it returns instead of the float tensor `name`.
   */
  readonly read?: (source: TensorSource) => TernarySource;
  /** Where the weight lies when the tensor is not exactly it: part of a fused tensor, or stored transposed. */
  readonly from?: TensorPart;
}

/**
 * Part of a checkpoint tensor: the tensor's own shape, whether it holds the matrix transposed ([K, N]: GPT-2's
 * Conv1D layout), and the first row of it the weight takes (element, for a vector) — fused projections such as
 * Phi-3's `qkv_proj` or GPT-2's `c_attn` are cut into one weight per projection this way.
 */
export interface TensorPart {
  readonly shape: readonly number[];
  readonly transposed?: boolean;
  /** First row (of the matrix as stored here, i.e. after transposing) or element. Default 0. */
  readonly offset?: number;
}

/** The weights of one block, under the block's own keys. */
export type WeightSpecs<K extends string> = { readonly [key in K]: WeightSpec };

/** Loaded weights, under the keys of their specs. */
export type Weights<K extends string> = { readonly [key in K]: Weight };

/** A block's specs, some keys optional (weights only some checkpoints of an architecture have, such as biases). */
export type SpecsObject = { readonly [key: string]: WeightSpec | undefined };

/** The weights loaded for specs `S`: a weight under each of its keys, optional where the spec is. */
export type WeightsOf<S> = { readonly [key in keyof S]: Weight };

/** Matrices stored in one format: how many, their values, and the bytes they take (padding and scales included). */
export interface FormatUse {
  matrices: number;
  values: number;
  bytes: number;
}

/** Fetches planned weights from a tensor source into the kernels' memory, reporting conversions as progress. */
export class WeightLoader {
  private converted = 0;
  /** Bytes of every weight stored so far, in their storage format. */
  storedBytes = 0;
  /** The matrices stored so far, by storage format. */
  readonly byFormat: Partial<Record<WeightFormat, FormatUse>> = {};
  private readonly total: number;
  private readonly planned: ReadonlySet<SpecsObject>;

  /** Bytes the planned weights take in the kernels' memory (matrices in the model's format, vectors float32). */
  readonly plannedBytes: number;

  /**
   * `plan` is every block's specs, in any order: how many weights they name is the progress denominator. With
   * `checkFinite` (the default) a tensor holding NaN or ±inf is refused (MODEL_LOAD naming it and where). `formatOf`
   * names a matrix's own storage format where the source says better than `format` (a GGUF file's tensor types).
   */
  constructor(
    private readonly source: TensorSource,
    private readonly kernels: Kernels,
    private readonly format: WeightFormat,
    plan: readonly SpecsObject[],
    private readonly onProgress?: ProgressCallback,
    private readonly checkFinite = true,
    private readonly formatOf: (name: string) => WeightFormat | undefined = () => undefined,
  ) {
    this.planned = new Set(plan);
    const specs = plan.flatMap((p) => Object.values(p).filter((s): s is WeightSpec => s !== undefined));
    this.total = specs.length;
    const unsupported = specs.find((s) => s.shape.length === 2 && !kernels.supports("matmul", this.formatFor(s)));
    if (unsupported !== undefined) {
      const stored = this.formatFor(unsupported);
      throw new LlmError("MODEL_LOAD", `dtype ${stored}: the ${kernels.name} backend cannot store ${stored} weights (${unsupported.name}); run this model on the cpu`, { field: "dtype" });
    }
    this.plannedBytes = specs.reduce((n, s) => n + (s.shape.length === 2 ? matrixBytes(this.formatFor(s), s.shape[0], s.shape[1]) : 4 * s.shape[0]), 0);
  }

  /** Every weight of `specs` (one of the planned ones); refuses (MODEL_LOAD) a missing, non-float, mis-shaped or non-finite one. */
  load<S extends SpecsObject>(specs: S): WeightsOf<S> {
    if (!this.planned.has(specs)) throw new Error("WeightLoader.load: these specs were not in the plan given to the constructor");
    const out: Record<string, Weight> = {};
    for (const [key, spec] of Object.entries(specs)) if (spec !== undefined) out[key] = this.store(spec);
    return out as WeightsOf<S>;
  }

  private store(spec: WeightSpec): Weight {
    const { name, shape, map, from, read } = spec;
    const format = this.formatFor(spec);
    if (read !== undefined) return this.stored(this.kernels.weight(shape, format, read(this.source)));
    if (!this.source.has(name)) throw new LlmError("MODEL_LOAD", `weight "${name}" is missing from the checkpoint`);
    const info = this.source.info(name);
    if (!FLOAT_DTYPES.has(info.dtype)) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`);
    }
    const expected = from?.shape ?? shape;
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has shape [${info.shape.join(", ")}] but the config implies [${expected.join(", ")}]`);
    }
    const K = shape[shape.length - 1];
    const first = (from?.offset ?? 0) * (shape.length === 2 ? K : 1);   // first element the weight takes
    let weight: Weight;
    if (map === undefined && from?.transposed !== true) {
      // read a chunk of rows at a time straight into the kernels' memory, in the checkpoint's own type
      const type = info.dtype as "F32" | "F16" | "BF16";
      const bytes = type === "F32" ? 4 : 2;
      weight = this.kernels.weight(shape, format, {
        type,
        read: (row, _, into) => {
          this.source.readInto(name, (first + row * K) * bytes, into);
          if (this.checkFinite) refuseNonFinite(info, first + row * K, into, type);
        },
      });
    } else {
      const all = this.source.toFloat32(name);
      if (this.checkFinite) refuseNonFinite(info, 0, all, "F32");
      const values = from?.transposed === true ? transposedRows(all, info.shape, from.offset ?? 0, shape[0])
        : all.subarray(first, first + shape.reduce((a, b) => a * b, 1));
      map?.(values);
      weight = this.kernels.weight(shape, format, values);
    }
    return this.stored(weight);
  }

  /** The format a matrix spec is stored in: the source's own where it names one, else the spec's, else the model's. */
  private formatFor(spec: WeightSpec): WeightFormat {
    return (spec.read === undefined ? this.formatOf(spec.name) : undefined) ?? spec.format ?? this.format;
  }

  /** Counts a stored weight and reports progress. */
  private stored(weight: Weight): Weight {
    this.converted++;
    this.storedBytes += weight.bytes;
    if (weight.shape.length === 2) {
      const use = (this.byFormat[weight.format] ??= { matrices: 0, values: 0, bytes: 0 });
      use.matrices++;
      use.values += weight.shape[0] * weight.shape[1];
      use.bytes += weight.bytes;
    }
    this.onProgress?.({ stage: "convert", done: this.converted, total: this.total, unit: "tensors" });
    return weight;
  }
}

/**
 * Refuses (MODEL_LOAD naming the tensor, the value and its index in the tensor) a NaN or ±inf among `values`: the
 * tensor's elements from `first` on, as float32 values or as its own 16-bit patterns.
 */
function refuseNonFinite(tensor: TensorInfo, first: number, values: Float32Array | Uint16Array, type: "F32" | "F16" | "BF16"): void {
  const bad = firstNonFinite(values, type);
  if (bad < 0) return;
  const value = type === "F32" ? values[bad] : type === "F16" ? f16BitsToF32(values[bad]) : bf16BitsToF32(values[bad]);
  const index: number[] = [];
  for (let rest = first + bad, d = tensor.shape.length - 1; d >= 0; d--) {
    index.unshift(rest % tensor.shape[d]);
    rest = Math.floor(rest / tensor.shape[d]);
  }
  throw new LlmError("MODEL_LOAD", `weight "${tensor.name}" holds ${value} at [${index.join(", ")}]: a checkpoint must hold finite values (checkWeights: false skips this check)`, { file: tensor.file });
}

/** Rows offset .. offset + N of the transpose of `values` ([K, M] as stored): an [N, K] matrix. */
function transposedRows(values: Float32Array, stored: readonly number[], offset: number, N: number): Float32Array {
  const [K, M] = stored;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[n * K + k] = values[k * M + offset + n];
  return out;
}
