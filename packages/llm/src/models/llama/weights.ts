/**
 * Checked weight fetching: each tensor must exist, be a float dtype and have the shape the config
 * implies; it is upcast to float32 and handed to the backend once.
 */
import type { Backend, F32Tensor, ProgressCallback, TensorSource } from "@actorlm/tensor";
import { LlmError } from "../../errors.js";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/** Fetches weights by name from a tensor source, counting conversions for progress reports. */
export class WeightLoader {
  private converted = 0;

  /** `total` is how many tensors the model will ask for (the progress denominator). */
  constructor(
    private readonly source: TensorSource,
    private readonly backend: Backend,
    private readonly total: number,
    private readonly onProgress?: ProgressCallback,
  ) {}

  /** The tensor `name` as float32 with exactly `shape`; refuses (MODEL_LOAD) a missing, non-float or mis-shaped one. */
  f32(name: string, shape: readonly number[]): F32Tensor {
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
