import type { DType, RawArray } from "./dtype.js";

/** A dense row-major tensor: `data.length` equals the product of `shape`. */
export interface Tensor<D extends RawArray = RawArray> {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: D;
}

/** A float32 tensor: the form weights take once they are upcast for compute. */
export type F32Tensor = Tensor<Float32Array>;

/** Number of elements of a shape (1 for a scalar `[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Make a float32 tensor, checking that `data` matches `shape`. */
export function f32Tensor(shape: readonly number[], data: Float32Array = new Float32Array(numel(shape))): F32Tensor {
  if (data.length !== numel(shape)) {
    throw new RangeError(`data holds ${data.length} elements, shape [${shape.join(", ")}] needs ${numel(shape)}`);
  }
  return { dtype: "F32", shape: [...shape], data };
}
