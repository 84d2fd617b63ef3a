export {
  DTYPE_SIZE, isDType, rawView, f16BitsToF32, bf16BitsToF32, f16ToF32, bf16ToF32, toFloat32Into,
  type DType, type RawArray,
} from "./dtype.js";
export { SafetensorsError, type SafetensorsFault } from "./errors.js";
export { numel, f32Tensor, type Tensor, type F32Tensor } from "./tensor.js";
export {
  SafetensorsFile, ShardedSafetensors, openSafetensors, validateHeader,
  type TensorInfo, type TensorSource, type LoadProgress, type ProgressCallback, type OpenOptions,
} from "./safetensors.js";
export { OPS, type Op, type Backend, type AttentionShape } from "./backend.js";
export { jsBackend } from "./backends/js.js";

