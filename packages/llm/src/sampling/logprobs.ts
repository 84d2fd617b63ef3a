// Log-probabilities as OpenAI reports them: the model's own log-softmax over the whole logits row, before any
// sampling processor (penalties, temperature, top-k / top-p, a grammar's mask) touched it.
import { logSumExp } from "./processors.js";

/** One token and its log-probability. */
export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** The chosen token's log-probability and the `top` most likely tokens (most likely first, lower id first on ties). */
export interface StepLogprobs {
  logprob: number;
  top: TokenLogprob[];
}

/** Most alternatives a request may ask for (OpenAI's bound). */
export const MAX_TOP_LOGPROBS = 20;

/**
 * Log-probability of `tokenId` under softmax(`logits`) and the `top` (0 .. 20) most likely ids with theirs. One pass
 * for the log-sum-exp, one for the top ids (a small sorted list; most values fail its threshold at once).
 */
export function stepLogprobs(logits: Float32Array, tokenId: number, top: number): StepLogprobs {
  const lse = logSumExp(logits);
  const ids: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < logits.length && top > 0; i++) {
    const v = logits[i];
    if (!(v > -Infinity)) continue;
    if (ids.length === top && v <= values[top - 1]) continue;
    let at = ids.length === top ? top - 1 : ids.length;
    while (at > 0 && values[at - 1] < v) at--;
    ids.splice(at, 0, i);
    values.splice(at, 0, v);
    if (ids.length > top) {
      ids.pop();
      values.pop();
    }
  }
  return { logprob: logits[tokenId] - lse, top: ids.map((id, k) => ({ tokenId: id, logprob: values[k] - lse })) };
}
