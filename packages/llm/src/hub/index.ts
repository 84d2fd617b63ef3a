// Hugging Face model ids, the local Hugging Face cache, and fetching a model into it when asked.
export { parseModelId, formatModelId, isCommitHash, type ModelId } from "./model-id.js";
export { hubCacheDir, repoFolder, cachedSnapshot, resolveModelDir } from "./cache.js";
export { parseGgufModelId, type GgufModelId } from "./gguf-id.js";
export { downloadModel, type DownloadOptions, type DownloadProgress, type DownloadResult } from "./download.js";
