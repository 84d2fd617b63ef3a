// Sampling: the Sampler, its PRNG and the logit-processing steps.
export { Sampler, type SamplerOptions } from "./sampler.js";
export { Rng, randomSeed, sampleSeed } from "./rng.js";
export {
  countTokens,
  applyRepetitionPenalty,
  applyFrequencyPresencePenalty,
  argmax,
  applyTokenMask,
  applyTemperature,
  applyTopK,
  softmax,
  logSumExp,
  applyTopP,
  applyMinP,
  sampleIndex,
} from "./processors.js";
export { stepLogprobs, MAX_TOP_LOGPROBS, type TokenLogprob, type StepLogprobs } from "./logprobs.js";
