/**
 * The linear layers of an offline (packed) BitNet b1.58 checkpoint, as transformers packs them: `<layer>.weight` is
 * uint8 [N/4, K] holding four 2-bit values per byte, each the ternary value + 1, where rows i, i + R, i + 2R, i + 3R
 * of the [N, K] matrix (R = N/4) share byte row i (row i + jR in bits 2j, 2j + 1); `<layer>.weight_scale` holds the
 * one scale. Everything is checked before the kernels see it; a bad tensor is refused with MODEL_LOAD naming it.
 */
import type { TensorSource, TernarySource } from "@actorlm/tensor";
import { LlmError } from "../../errors.js";
import type { BitNetQuantization } from "./config.js";

const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

/**
 * The packed linear `name` ([N, K] once unpacked) as a ternary source with its scale (autobitlinear: weight_scale;
 * bitlinear: 1 / weight_scale). Refuses a missing or non-U8 tensor, a shape other than [N/4, K], a 2-bit field
 * holding 3, and a missing, mis-shaped, non-finite or non-positive weight_scale.
 */
export function packedTernary(source: TensorSource, name: string, shape: readonly number[], linearClass: BitNetQuantization["linearClass"]): TernarySource {
  const [N, K] = shape;
  if (!source.has(name)) refuse(`packed weight "${name}" is missing from the checkpoint`);
  const info = source.info(name);
  if (info.dtype !== "U8") refuse(`weight "${name}" has dtype ${info.dtype}; an offline (packed) BitNet checkpoint stores U8, four 2-bit values per byte`);
  const R = N / 4;
  if (!Number.isInteger(R) || info.shape.length !== 2 || info.shape[0] !== R || info.shape[1] !== K) {
    refuse(`packed weight "${name}" has shape [${info.shape.join(", ")}] but the config implies [${N}, ${K}] packed as [${R}, ${K}]`);
  }
  const packed = source.tensor(name).data as Uint8Array;
  const bad = packed.findIndex((b) => (b & (b >> 1) & 0x55) !== 0);
  if (bad >= 0) {
    const j = [0, 1, 2, 3].find((f) => ((packed[bad] >> (2 * f)) & 3) === 3) ?? 0;
    const row = Math.floor(bad / K), column = bad % K;
    refuse(`packed weight "${name}" holds a 2-bit field of 3 at byte [${row}, ${column}], bits ${2 * j}–${2 * j + 1} (row ${row + j * R} of [${N}, ${K}]): a field holds the ternary value + 1, 0 to 2`);
  }
  const weightScale = readScale(source, name.replace(/\.weight$/, ".weight_scale"));
  const scale = linearClass === "autobitlinear" ? weightScale : 1 / weightScale;
  return {
    type: "ternary",
    scale,
    read(from, to, into) {
      for (let n = from, o = 0; n < to; n++, o += K) {
        const j = Math.floor(n / R), shift = 2 * j, at = (n - j * R) * K;
        for (let k = 0; k < K; k++) into[o + k] = ((packed[at + k] >> shift) & 3) - 1;
      }
    },
  };
}

/** The one positive, finite value of tensor `name`. */
function readScale(source: TensorSource, name: string): number {
  if (!source.has(name)) refuse(`"${name}" is missing from the checkpoint: an offline BitNet linear needs its one scale`);
  const info = source.info(name);
  if (!FLOAT_DTYPES.has(info.dtype)) refuse(`"${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`);
  if (info.shape.reduce((a, b) => a * b, 1) !== 1) refuse(`"${name}" has shape [${info.shape.join(", ")}]; a weight scale has one element`);
  const value = source.toFloat32(name)[0];
  if (!Number.isFinite(value) || value <= 0) refuse(`"${name}" is ${value}; a weight scale must be finite and positive`);
  return value;
}

function refuse(what: string): never {
  throw new LlmError("MODEL_LOAD", what);
}
