// Logit processing steps, each a plain function over caller-owned buffers (in place, no allocation), and the one
// JS softmax / log-sum-exp of the llm package (the kernels' softmax lives in @actorlm/tensor).
// Order used by Sampler (as in HF generate): penalties → greedy | temperature → top-k → softmax → top-p → min-p → draw.

/** Add one to `counts[id]` for each id in `history` (ids outside `counts` are ignored). */
export function countTokens(history: readonly number[], counts: Int32Array): void {
  for (const id of history) if (id >= 0 && id < counts.length) counts[id]++;
}

/** HF repetition penalty: for every seen token (counts > 0) a negative logit is multiplied by `penalty`, any other divided. */
export function applyRepetitionPenalty(logits: Float32Array, counts: Int32Array, penalty: number): void {
  const n = Math.min(logits.length, counts.length);
  for (let i = 0; i < n; i++) {
    if (counts[i] > 0) logits[i] = logits[i] < 0 ? logits[i] * penalty : logits[i] / penalty;
  }
}

/** OpenAI penalties: `logit -= count · frequency + (count > 0 ? presence : 0)`. */
export function applyFrequencyPresencePenalty(
  logits: Float32Array,
  counts: Int32Array,
  frequency: number,
  presence: number,
): void {
  const n = Math.min(logits.length, counts.length);
  for (let i = 0; i < n; i++) {
    const c = counts[i];
    if (c > 0) logits[i] -= c * frequency + presence;
  }
}

/**
 * Set to -Infinity every logit whose bit is clear in `allowed` (a grammar's next-token bitmask: bit `id & 31` of word
 * `id >> 5`). Ids past the bitmask are masked too; bits past the logits are ignored.
 */
export function applyTokenMask(logits: Float32Array, allowed: Int32Array): void {
  const n = logits.length;
  const words = Math.min(allowed.length, Math.ceil(n / 32));
  for (let w = 0; w < words; w++) {
    const bits = allowed[w];
    if (bits === -1) continue; // all 32 allowed
    const base = w * 32;
    const end = Math.min(base + 32, n);
    if (bits === 0) {
      logits.fill(-Infinity, base, end); // none allowed: most words of a grammar's mask
      continue;
    }
    for (let i = base; i < end; i++) if (((bits >>> (i - base)) & 1) === 0) logits[i] = -Infinity;
  }
  if (words * 32 < n) logits.fill(-Infinity, words * 32);
}

/** Index of the largest value, lowest index on ties; NaN never wins; 0 when nothing is larger than -Infinity. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/**
 * Divide every logit by `temperature` (> 0) after shifting the largest one to 0, which softmax ignores. The shift
 * keeps a tiny temperature from overflowing float32: the largest logits become 0, every other one a large negative
 * number or -Infinity (probability 0), so the result tends to greedy (uniform over tied maxima) as temperature → 0.
 * A +Infinity logit becomes 0 and every finite one -Infinity; NaN stays NaN; all -Infinity / NaN is left as is.
 */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return; // dividing by 1 cannot overflow, and softmax does the shift itself
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) return;
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i] === max ? 0 : (logits[i] - max) / temperature;
}

/**
 * Set to -Infinity every logit below the k-th largest (ties with it are kept, as HF's TopKLogitsWarper does).
 * `scratch` (length ≥ logits.length) holds a copy for partial selection; O(n) on average, no sort.
 */
export function applyTopK(logits: Float32Array, k: number, scratch: Float32Array = new Float32Array(logits.length)): void {
  const n = logits.length;
  if (k <= 0 || k >= n) return;
  for (let i = 0; i < n; i++) scratch[i] = Number.isNaN(logits[i]) ? -Infinity : logits[i];
  const threshold = selectDescending(scratch, n, k - 1);
  for (let i = 0; i < n; i++) if (!(logits[i] >= threshold)) logits[i] = -Infinity;
}

/** Quickselect: the value that would sit at position `rank` of a[0..n) sorted descending (reorders a). */
function selectDescending(a: Float32Array, n: number, rank: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1; // median of three as pivot
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else return a[rank];
  }
  return a[lo];
}

/** Largest value of `values` ignoring NaN; -Infinity when there is none. */
function maxOf(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

/**
 * log Σ exp(values[i]) in float64, stably (shifted by the largest value); -Infinity and NaN terms count as 0.
 * `values[id] - logSumExp(values)` is the log-probability of `id` under softmax(values).
 */
export function logSumExp(values: ArrayLike<number>): number {
  const max = maxOf(values);
  if (max === -Infinity || max === Infinity) return max;
  let sum = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > -Infinity) sum += Math.exp(values[i] - max);
  return max + Math.log(sum);
}

/** Softmax of `logits` into `probs` (same length); -Infinity and NaN get probability 0. Returns false if all were masked. */
export function softmax(logits: Float32Array, probs: Float64Array): boolean {
  const max = maxOf(logits);
  if (max === -Infinity) {
    probs.fill(0, 0, logits.length);
    return false;
  }
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = logits[i] > -Infinity ? Math.exp(logits[i] - max) : 0; // NaN > x is false
    probs[i] = p;
    sum += p;
  }
  for (let i = 0; i < logits.length; i++) probs[i] /= sum;
  return true;
}

/**
 * Nucleus filter: keep the smallest set of most probable tokens whose total probability is ≥ `p` (at least one),
 * zero the rest. `probs` must sum to 1. Uses a max-heap in `heap` (length ≥ probs.length), not a full sort.
 */
export function applyTopP(probs: Float64Array, p: number, heap: Int32Array = new Int32Array(probs.length)): void {
  if (p >= 1) return;
  let size = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > 0) heap[size++] = i;
  for (let i = (size >>> 1) - 1; i >= 0; i--) siftDown(probs, heap, i, size);
  let cumulative = 0;
  while (size > 0 && cumulative < p) {
    cumulative += probs[heap[0]];
    heap[0] = heap[--size]; // the popped token is kept; the heap shrinks
    siftDown(probs, heap, 0, size);
  }
  for (let i = 0; i < size; i++) probs[heap[i]] = 0; // what is left in the heap is outside the nucleus
}

/** Whether token a ranks before token b: more probable, or as probable with a lower id. */
function higher(probs: Float64Array, a: number, b: number): boolean {
  return probs[a] > probs[b] || (probs[a] === probs[b] && a < b);
}

/** Restore the max-heap property of heap[0..end) below `start`. */
function siftDown(probs: Float64Array, heap: Int32Array, start: number, end: number): void {
  let i = start;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= end) return;
    const c = l + 1 < end && higher(probs, heap[l + 1], heap[l]) ? l + 1 : l;
    if (!higher(probs, heap[c], heap[i])) return;
    const t = heap[i];
    heap[i] = heap[c];
    heap[c] = t;
    i = c;
  }
}

/** Min-p filter: zero every probability below `minP` × the largest one (the largest always survives). */
export function applyMinP(probs: Float64Array, minP: number): void {
  if (minP <= 0) return;
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > max) max = probs[i];
  const threshold = minP * max;
  for (let i = 0; i < probs.length; i++) if (probs[i] < threshold) probs[i] = 0;
}

/** Draw an index with probability ∝ `weights[i]` using `u` uniform in [0, 1); -1 if every weight is 0. */
export function sampleIndex(weights: Float64Array, u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  if (!(total > 0)) return -1;
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last = i;
    if (target < acc) return i;
  }
  return last; // rounding left target ≥ acc: take the last positive weight
}
