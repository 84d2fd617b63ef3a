/**
 * Normalizations over rows of activations: RMSNorm (Llama, Qwen, Gemma, Phi-3, Mistral) and LayerNorm with bias
 * (GPT-2), behind one interface so a decoder layer does not care which one it has.
 */
import type { Buffer, Kernels, Weight } from "@actorlm/tensor";
import type { WeightSpec } from "../weights.js";

/** A normalization of rows: out = norm(x), each row of the norm's width; out may alias x. */
export interface Norm {
  forward(out: Buffer, x: Buffer, rows: number): void;
}

/** Options of {@link RmsNorm.weight}. */
export interface RmsNormWeightOptions {
  /** Store 1 + w: Gemma scales by (1 + w), its checkpoints holding weights centered on 0. */
  readonly addOne?: boolean;
}

/** RMSNorm: x / √(mean(x²) + eps) · w over rows of `w.shape[0]` values. */
export class RmsNorm implements Norm {
  /** The norm over a loaded weight [width]. */
  constructor(private readonly ops: Kernels, private readonly w: Weight, private readonly eps: number) {}

  /** The spec of an RMSNorm weight `name` of `width` values. */
  static weight(name: string, width: number, { addOne = false }: RmsNormWeightOptions = {}): WeightSpec {
    return addOne ? { name, shape: [width], map: addOneInPlace } : { name, shape: [width] };
  }

  /** out = rmsnorm(x) over `rows` rows (a row may be one head: q/k norms run over rows × heads). */
  forward(out: Buffer, x: Buffer, rows: number): void {
    this.ops.rmsnorm(out, x, this.w, rows, this.eps);
  }
}

/** LayerNorm: (x − mean) / √(var + eps) · w + b over rows of `w.shape[0]` values. */
export class LayerNorm implements Norm {
  /** The norm over its loaded weight and bias [width]. */
  constructor(private readonly ops: Kernels, private readonly w: Weight, private readonly b: Weight, private readonly eps: number) {}

  /** out = layernorm(x) over `rows` rows. */
  forward(out: Buffer, x: Buffer, rows: number): void {
    this.ops.layernorm(out, x, this.w, this.b, rows, this.eps);
  }
}

function addOneInPlace(values: Float32Array): void {
  for (let i = 0; i < values.length; i++) values[i] = 1 + values[i];
}
