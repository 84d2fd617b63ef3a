export { LlmError, type LlmErrorCode } from "./errors.js";
export { Tokenizer, type EncodeOptions, type DecodeOptions, type TokenizerExtras } from "./tokenizer.js";
export {
  validateRequest,
  REQUEST_FIELDS,
  fitMaxTokens,
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type SamplingParams,
  type NormalizedRequest,
  type RequestLimits,
  type TokenOutput,
  type FinishReason,
} from "./generation/request.js";
export * from "./sampling/index.js";
export {
  StreamingDetokenizer,
  type DetokenizerOptions,
  type DetokenizerSource,
} from "./generation/detokenizer.js";
export { StopMatcher, type StopResult } from "./generation/stop.js";
export { parseLlamaConfig, loadLlamaConfig, LLAMA_MODEL_TYPES, type LlamaConfig, type RopeScaling } from "./models/config.js";
export { Llama, LLAMA_LAYERS, embeddingFormat, type LlamaLoadOptions, type LayerPlan } from "./models/llama/model.js";
export type { BlockVariant } from "./models/llama/layers.js";
export { bitnetArchitecture, bitnetLayers, loadBitNet } from "./models/bitnet/model.js";
export { parseBitNetConfig, BITNET_MODEL_TYPES, type BitNetConfig, type BitNetQuantization } from "./models/bitnet/config.js";
export { ropeInvFreq, RotaryTables } from "./models/llama/rope.js";
export { KvPool, KvSequence, DEFAULT_BLOCK_SIZE } from "./kv-cache.js";
export {
  registerArchitecture, architectureFor, llamaArchitecture, loadModel, type ModelArchitecture, type LoadedModel,
} from "./models/registry.js";
export { DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_LOGIT_ROWS, defaultKvTokens } from "./models/causal-lm.js";
export type { CausalLM, CausalLMConfig, ModelLoadOptions } from "./models/causal-lm.js";
export { readJsonFile, type ReadJsonOptions } from "./json-file.js";
export { Sequence, type StepOutput } from "./generation/sequence.js";
export { LlamaModel, type LlamaModelArgs, type ModelInfo, type SequenceStart, type WindowScore } from "./llama-model.js";
export {
  streamingHandler, perplexityHandler, startSequence, collectCompletion, generate, type Completion, type PerplexityResult,
} from "./handlers.js";
export { encodeOffThread } from "./tokenize/encoder-pool.js";
export { EMBEDDED_MODEL_DIR } from "./embedded-model.js";
