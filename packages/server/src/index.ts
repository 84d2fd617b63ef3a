export { EMBEDDED_MODEL_DIR } from "./cli/model-dir.js";
