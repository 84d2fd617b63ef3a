/**
 * Checked weight fetching: each tensor must exist, be a float dtype and have the shape the config
 * implies; it is upcast to float32 and handed to the backend once. Blocks describe the weights they need
 * as specs; the loader is given every spec up front, so the progress total is counted, never hard-coded.
 */
import type { Backend, F32Tensor, ProgressCallback, TensorSource } from "@actorlm/tensor";
import { LlmError } from "../../errors.js";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/** One weight a block needs: its checkpoint tensor name and the shape the config implies. */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** The weights of one block, under the block's own keys. */
export type WeightSpecs<K extends string> = { readonly [key in K]: WeightSpec };

/** Loaded weights, under the keys of their specs. */
export type Weights<K extends string> = { readonly [key in K]: F32Tensor };

/** Fetches planned weights from a tensor source, reporting conversions as progress. */
export class WeightLoader {
  private converted = 0;
  private readonly total: number;
  private readonly planned: ReadonlySet<WeightSpecs<string>>;

  /** `plan` is every block's specs, in any order: how many weights they name is the progress denominator. */
  constructor(
    private readonly source: TensorSource,
    private readonly backend: Backend,
    plan: readonly WeightSpecs<string>[],
    private readonly onProgress?: ProgressCallback,
  ) {
    this.planned = new Set(plan);
    this.total = plan.reduce((n, specs) => n + Object.keys(specs).length, 0);
  }

  /** Every weight of `specs` (one of the planned ones) as float32; refuses (MODEL_LOAD) a missing, non-float or mis-shaped one. */
  load<K extends string>(specs: WeightSpecs<K>): Weights<K> {
    if (!this.planned.has(specs)) throw new Error("WeightLoader.load: these specs were not in the plan given to the constructor");
    const out = {} as { [key in K]: F32Tensor };
    for (const key of Object.keys(specs) as K[]) out[key] = this.f32(specs[key]);
    return out;
  }

  private f32({ name, shape }: WeightSpec): F32Tensor {
    if (!this.source.has(name)) throw new LlmError("MODEL_LOAD", `weight "${name}" is missing from the checkpoint`);
    const info = this.source.info(name);
    if (!FLOAT_DTYPES.has(info.dtype)) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`);
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new LlmError("MODEL_LOAD", `weight "${name}" has shape [${info.shape.join(", ")}] but the config implies [${shape.join(", ")}]`);
    }
    const weight: F32Tensor = { dtype: "F32", shape: [...shape], data: this.source.toFloat32(name) };
    this.backend.prepareWeight?.(weight);
    this.converted++;
    this.onProgress?.({ stage: "convert", done: this.converted, total: this.total, unit: "tensors" });
    return weight;
  }
}
