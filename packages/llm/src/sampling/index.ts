// Sampling: the Sampler, its PRNG and the logit-processing steps.
export { Sampler, type SamplerOptions } from "./sampler.js";
export { Rng, randomSeed } from "./rng.js";
export {
  countTokens,
  applyRepetitionPenalty,
  applyFrequencyPresencePenalty,
  argmax,
  applyTemperature,
  applyTopK,
  softmax,
  logSumExp,
  applyTopP,
  applyMinP,
  sampleIndex,
} from "./processors.js";
