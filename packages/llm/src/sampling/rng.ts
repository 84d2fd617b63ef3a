// A small seeded PRNG: xoshiro128** (Blackman & Vigna) seeded through SplitMix32.
import { randomInt } from "node:crypto";

/** SplitMix32 step: advances `state[0]` and returns a well-mixed 32-bit value. */
function splitMix32(state: Uint32Array): number {
  state[0] = (state[0] + 0x9e3779b9) >>> 0;
  let z = state[0];
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** A fresh random seed: a non-negative safe integer from the OS's CSPRNG. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 47) * 64 + randomInt(0, 64);
}

/**
 * The seed of sample `index` of a request seeded with `seed` (n > 1 samples, each its own stream): sample 0 keeps
 * `seed`, so n = 1 draws what it always did; later ones get a well-mixed safe integer of (seed, index).
 */
export function sampleSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  const rng = new Rng(seed);
  for (let i = 0; i < index; i++) rng.nextU32();
  return (rng.nextU32() >>> 11) * 2 ** 32 + rng.nextU32(); // 53 bits
}

/** Deterministic pseudo-random numbers from a safe-integer seed (xoshiro128**). */
export class Rng {
  private readonly s = new Uint32Array(4);

  /** Seed the generator; any safe integer (negative ones too) gives its own stream. */
  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const lo = seed >>> 0; // low 32 bits (two's complement for negatives)
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    // s[0..1] from the low word, s[2..3] from the high word: SplitMix32's first output is a bijection of its
    // seed, so distinct seeds give distinct states.
    const a = new Uint32Array([lo]);
    const b = new Uint32Array([hi ^ 0x5bd1e995]);
    this.s[0] = splitMix32(a);
    this.s[1] = splitMix32(a);
    this.s[2] = splitMix32(b);
    this.s[3] = splitMix32(b);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // the all-zero state is a fixed point
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const t = s[1] << 9;
    let r = Math.imul(s[1], 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return r >>> 0;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }
}
