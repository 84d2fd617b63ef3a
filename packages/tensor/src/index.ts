export {
  DTYPE_SIZE, isDType, rawView, f16BitsToF32, bf16BitsToF32, f16ToF32, bf16ToF32, toFloat32Into, firstNonFinite,
  type DType, type RawArray,
} from "./dtype.js";
export { SafetensorsError, type SafetensorsFault } from "./errors.js";
export { numel, f32Tensor, type Tensor, type F32Tensor } from "./tensor.js";
export {
  SafetensorsFile, ShardedSafetensors, openSafetensors, validateHeader,
  type TensorInfo, type TensorSource, type LoadProgress, type ProgressCallback, type OpenOptions,
} from "./safetensors.js";
export {
  WEIGHT_FORMATS, INT8_BLOCK, TILE_ROWS, isWeightFormat, matrixLayout, matrixBytes, matrixViews, encodeRows, decodeRow, int8Row,
  quantizeRow, roundHalfEven, f32ToF16Bits, f32ToBf16Bits, Q4_BLOCK, q4Row,
  TERNARY_CHUNK, ternaryScalesOf, ternarize, setTernaryScale, ternaryScales, encodeTernaryRows, ternaryRow,
  type WeightFormat, type MatrixLayout, type MatrixBytes, type TernaryScales,
} from "./formats.js";
export {
  OPS,
  type Op, type Kernels, type KernelsName, type Buffer, type Weight, type KvCache, type KvCacheSpec, type Batch,
  type BatchSequence, type LogitRows, type Activation, type AttentionParams, type WeightSource, type TernarySource, type WorkLimits, type KernelCounts,
} from "./kernels.js";
export { JsKernels } from "./reference/js-kernels.js";
export { WasmKernels, type SimdPeak, type WasmOptions } from "./wasm/wasm-kernels.js";
export type { SimdLevel } from "./wasm/module.js";
export { createKernels, type CpuKernelsName, type KernelsOptions } from "./create.js";
// for backends in other packages (@actorlm/gpu): the batch tables and the checks every backend makes
export { batchTables, kvElements, type BatchTables } from "./batch-tables.js";
export { checkLimits, checkRange, checkTernarySource } from "./kernel-checks.js";
export { GgufFile, GgufError, isGgufFile, type GgufFault, type GgufValue, type GgufTensorInfo, type GgufOpenOptions } from "./gguf.js";
export { dequantize, ggmlType, ggmlTypeById, ggmlTypeName, ggmlBytes, type GgmlType, type GgmlTypeName } from "./ggml-types.js";
