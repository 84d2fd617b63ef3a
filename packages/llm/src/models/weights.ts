/**
 * Checked weight loading: each tensor must exist, be a float dtype and have the shape the config implies; it
 * is read, converted to its storage format in the kernels' memory, and dropped (the checkpoint is never held
 * whole). Blocks describe the weights they need as specs; the loader is given every spec up front, so the
 * progress total is counted, never hard-coded.
 */
import { matrixBytes, toFloat32Into, type Kernels, type ProgressCallback, type TensorSource, type Weight, type WeightFormat } from "@actorlm/tensor";
import { LlmError } from "../errors.js";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/** One weight a block needs: its checkpoint tensor name, the shape the config implies, and whether it is a matrix to store in the model's format. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Transform applied to the float32 values before storing (e.g. Gemma's 1 + w norms). */
  readonly map?: (values: Float32Array) => void;
}

/** The weights of one block, under the block's own keys. */
export type WeightSpecs<K extends string> = { readonly [key in K]: WeightSpec };

/** Loaded weights, under the keys of their specs. */
export type Weights<K extends string> = { readonly [key in K]: Weight };

/** Fetches planned weights from a tensor source into the kernels' memory, reporting conversions as progress. */
export class WeightLoader {
  private converted = 0;
  /** Bytes of every weight stored so far, in their storage format. */
  storedBytes = 0;
  private readonly total: number;
  private readonly planned: ReadonlySet<WeightSpecs<string>>;

  /** Bytes the planned weights take in the kernels' memory (matrices in the model's format, vectors float32). */
  readonly plannedBytes: number;

  /** `plan` is every block's specs, in any order: how many weights they name is the progress denominator. */
  constructor(
    private readonly source: TensorSource,
    private readonly kernels: Kernels,
    private readonly format: WeightFormat,
    plan: readonly WeightSpecs<string>[],
    private readonly onProgress?: ProgressCallback,
  ) {
    this.planned = new Set(plan);
    const specs = plan.flatMap((p) => Object.values(p) as WeightSpec[]);
    this.total = specs.length;
    this.plannedBytes = specs.reduce((n, s) => n + (s.shape.length === 2 ? matrixBytes(format, s.shape[0], s.shape[1]) : 4 * s.shape[0]), 0);
  }

  /** Every weight of `specs` (one of the planned ones); refuses (MODEL_LOAD) a missing, non-float or mis-shaped one. */
  load<K extends string>(specs: WeightSpecs<K>): Weights<K> {
    if (!this.planned.has(specs)) throw new Error("WeightLoader.load: these specs were not in the plan given to the constructor");
    const out = {} as { [key in K]: Weight };
    for (const key of Object.keys(specs) as K[]) out[key] = this.store(specs[key]);
    return out;
  }

  private store({ name, shape, map }: WeightSpec): Weight {
    if (!this.source.has(name)) throw new LlmError("MODEL_LOAD", `weight "${name}" is missing from the checkpoint`);
    const info = this.source.info(name);
    if (!FLOAT_DTYPES.has(info.dtype)) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`);
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has shape [${info.shape.join(", ")}] but the config implies [${shape.join(", ")}]`);
    }
    const raw = this.source.tensor(name).data;
    const K = shape[shape.length - 1];
    const chunk = new Float32Array(0);
    let rows = chunk;
    const weight = this.kernels.weight(shape, this.format, (from, to) => {
      const n = (to - from) * K;
      if (rows.length < n) rows = new Float32Array(n);
      const out = rows.subarray(0, n);
      toFloat32Into(info.dtype, raw.subarray(from * K, to * K), out);
      map?.(out);
      return out;
    });
    this.converted++;
    this.storedBytes += weight.bytes;
    this.onProgress?.({ stage: "convert", done: this.converted, total: this.total, unit: "tensors" });
    return weight;
  }
}
