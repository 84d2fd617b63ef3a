/**
 * Rotary position embedding: inverse frequencies and cos/sin tables computed as transformers does (float32 at
 * every step), and the tables uploaded to the kernels' memory.
 */
import type { Kernels, Weight } from "@actorlm/tensor";
import type { RopeScaling } from "../config-fields.js";

const f32 = Math.fround;

/**
 * Inverse frequencies inv_freq[i] = 1 / theta^(2i / dim), i < dim/2, then scaled: `linear` divides all by factor;
 * `llama3` divides the low frequencies by factor, keeps the high ones and interpolates between (transformers'
 * `_compute_llama3_parameters`). `dim` is the head width, or the rotated part of it under partial rotary.
 */
export function ropeInvFreq(dim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(theta ** f32((2 * i) / dim)));
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = f32(inv[i] / scaling.factor);
  } else if (scaling.type === "llama3") {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
    const lowFreqWavelen = oldLen / lowFreqFactor;
    const highFreqWavelen = oldLen / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = f32((2 * Math.PI) / inv[i]);
      if (wavelen > lowFreqWavelen) {
        inv[i] = f32(inv[i] / factor);                               // long wavelengths: fully scaled
      } else if (wavelen >= highFreqWavelen) {                       // medium: smooth blend
        const smooth = f32((f32(oldLen / wavelen) - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
        inv[i] = f32(f32(f32(f32(1 - smooth) * inv[i]) / factor) + f32(smooth * inv[i]));
      }                                                              // short wavelengths: unchanged
    }
  }
  return inv;
}

/** cos/sin of position × inv_freq for positions 0 .. positions-1, each table [positions, dim/2]. */
export class RotaryTables {
  readonly cos: Float32Array;
  readonly sin: Float32Array;

  /** Tabulate angles for `positions` positions. */
  constructor(invFreq: Float32Array, readonly positions: number) {
    const half = invFreq.length;
    this.cos = new Float32Array(positions * half);
    this.sin = new Float32Array(positions * half);
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < half; i++) {
        const angle = f32(p * invFreq[i]);
        this.cos[p * half + i] = Math.cos(angle);
        this.sin[p * half + i] = Math.sin(angle);
      }
    }
  }
}

/** Rotary tables in the kernels' memory, and how many leading dims of each head they rotate. */
export interface Rotary {
  /** cos, [positions, rotaryDim/2]. */
  readonly cos: Weight;
  /** sin, [positions, rotaryDim/2]. */
  readonly sin: Weight;
  /** Rotated dims of each head: the head width, or its first part under partial rotary (Phi-3). */
  readonly rotaryDim: number;
}

/** Tabulates `invFreq` (of a rotaryDim/2 frequencies) for `positions` positions into the kernels' memory. */
export function uploadRotary(ops: Kernels, invFreq: Float32Array, positions: number): Rotary {
  const tables = new RotaryTables(invFreq, positions);
  const n = positions * invFreq.length;
  return { cos: ops.weight([n], "float32", tables.cos), sin: ops.weight([n], "float32", tables.sin), rotaryDim: 2 * invFreq.length };
}

/** Bytes {@link uploadRotary} takes for `invFreq` over `positions` positions. */
export function rotaryBytes(invFreq: Float32Array, positions: number): number {
  return 8 * positions * invFreq.length;
}
