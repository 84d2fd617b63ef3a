export { LlmError, type LlmErrorCode } from "./errors.js";
export { Tokenizer, type EncodeOptions, type DecodeOptions, type TokenizerExtras } from "./tokenizer.js";
export {
  validateRequest,
  REQUEST_FIELDS,
  fitMaxTokens,
  DEFAULT_SAMPLING,
  MAX_SAMPLES,
  type GenerateRequest,
  type SamplingParams,
  type NormalizedRequest,
  type TokenizedRequest,
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
export { ConfigFields, type RawConfig, type RopeParameters } from "./models/config-fields.js";
export { Llama, llamaRecipe, type LlamaLoadOptions, type LlamaVariant, type LlamaLayerSpecs } from "./models/llama/model.js";
export { ropeInvFreq, RotaryTables, uploadRotary, type Rotary } from "./models/blocks/rotary.js";
export { DecoderBuffers, type DecoderDims } from "./models/blocks/buffers.js";
export { RmsNorm, LayerNorm, type Norm } from "./models/blocks/norm.js";
export { Attention, type AttentionSettings, type AttentionBias, type AttentionWeights } from "./models/blocks/attention.js";
export { GatedMlp, type FeedForward } from "./models/blocks/mlp.js";
export { DecoderLayer, type DecoderLayerParts } from "./models/blocks/decoder-layer.js";
export {
  DecoderModel, loadDecoder, decoderParts, tableFormat, describeStorage,
  type DecoderRecipe, type DecoderParts, type LayerContext, type OuterSpecs,
} from "./models/decoder.js";
export type { WeightSpec, WeightSpecs, Weights, TensorPart, FormatUse } from "./models/weights.js";
export { mistralArchitecture, parseMistralConfig, type MistralConfig } from "./models/mistral.js";
export { qwen2Architecture, parseQwen2Config, type Qwen2Config } from "./models/qwen2.js";
export { qwen3Architecture, parseQwen3Config, type Qwen3Config } from "./models/qwen3.js";
export { gemma3Architecture, parseGemma3Config, type Gemma3Config } from "./models/gemma3.js";
export { phi3Architecture, parsePhi3Config, type Phi3Config } from "./models/phi3.js";
export { gpt2Architecture, parseGpt2Config, type Gpt2Config } from "./models/gpt2.js";
export { bitnetArchitecture, bitnetRecipe } from "./models/bitnet/model.js";
export { parseBitNetConfig, BITNET_MODEL_TYPES, type BitNetConfig, type BitNetQuantization } from "./models/bitnet/config.js";
export { KvStorage, DEFAULT_BLOCK_SIZE } from "./kv-cache.js";
export { BlockManager, KvSequence, type BlockLayout, type BlockManagerOptions, type BlockStats, type PrefixHit } from "./generation/block-manager.js";
export {
  registerArchitecture, architectureFor, llamaArchitecture, loadModel, type ModelArchitecture, type LoadedModel,
} from "./models/registry.js";
export { DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_LOGIT_ROWS, defaultKvTokens } from "./models/causal-lm.js";
export type { CausalLM, CausalLMConfig, ModelLoadOptions } from "./models/causal-lm.js";
export { readJsonFile, type ReadJsonOptions } from "./json-file.js";
export { Sequence, type StepOutput, type SequenceOptions } from "./generation/sequence.js";
export { Scheduler, type SchedulerLimits, type SchedulerOptions, type SchedulerStats, type StepDriver, type StepRecord } from "./generation/scheduler.js";
export { planStep, type PlanSequence, type PlannedRows, type StepLimits, type StepPlan } from "./generation/policy.js";
export { StepCostModel, type ChunkPolicy, type StepCostOptions } from "./generation/chunking.js";
export { checkAdmission, type AdmissionLimits } from "./generation/admission.js";
export { DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_QUEUED_REQUESTS, type LlmEngineArgs, type LlamaModelArgs } from "./engine/args.js";
export { LlmEngine, LlamaModel } from "./engine/engine.js";
export { requestLimits, type EngineStats, type ModelInfo } from "./engine/info.js";
export type { SequenceStart } from "./engine/requests.js";
export type { BenchmarkOptions, BenchmarkTimes, WindowScore } from "./engine/probes.js";
export {
  streamingHandler, tokenizedStreamingHandler, perplexityHandler, startSequence, startSamples, submitSamples, collectCompletion, collectCompletions, generate,
  type Completion, type PerplexityResult,
} from "./handlers.js";
export { checkGrammarSpec, checkJsonSchema, checkRegex, GRAMMAR_TYPES, type GrammarSpec, type JsonSchema } from "./grammar/spec.js";
export { grammarToEbnf, structuralToEbnf, type StructuralFormat } from "./grammar/convert.js";
export { grammarOffThread, structuralOffThread } from "./grammar/grammar-pool.js";
export { GrammarEngine, SequenceGrammar, vocabType, type GrammarStats, type VocabType } from "./grammar/engine.js";
export { encodeOffThread, tokenizeRequest } from "./tokenize/encoder-pool.js";
export { EMBEDDED_MODEL_DIR } from "./embedded-model.js";
export { GPU_PACKAGE } from "./engine/start-kernels.js";
export { measureBandwidth, measureSimdPeak, type SimdPeak } from "./machine-probes.js";
export { ChatTemplate, PLAIN_CHAT_TEMPLATE, type ChatMessage, type ChatTemplateSource, type RenderOptions } from "./chat-template.js";
export * from "./hub/index.js";
export {
  checkTools, checkToolChoice, parametersOf, toolCallId, toolGrammar, parseToolCalls, toolCallFormat, readJsonValue, ToolCallStream,
  HERMES_FORMAT, LLAMA3_FORMAT, MISTRAL_FORMAT,
  type ToolCall, type ToolChoice, type ToolDefinition, type ParsedCall, type ParsedCompletion, type ToolCallFormat, type FoundCalls,
  type ToolCallDelta, type ToolStreamEvent,
} from "./tools/index.js";
