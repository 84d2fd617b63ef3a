/**
 * Rotary position embedding tables, computed as transformers does (float32 at every step).
 */
import type { RopeScaling } from "../config.js";

const f32 = Math.fround;

/**
 * Inverse frequencies inv_freq[i] = 1 / theta^(2i / headDim), i < headDim/2, then scaled:
 * `linear` divides all by factor; `llama3` divides the low frequencies by factor, keeps the high ones and
 * interpolates between (transformers' `_compute_llama3_parameters`).
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(theta ** f32((2 * i) / headDim)));
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

/** cos/sin of position × inv_freq for positions 0 .. positions-1, each table [positions, headDim/2]. */
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
