// The embedded model's path, kept here for existing importers: it is defined in @actorlm/llm.
export { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
