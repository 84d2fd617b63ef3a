import { fileURLToPath } from "node:url";

/** The embedded model, found relative to this folder so the examples run from any working directory. */
export const MODEL_DIR = fileURLToPath(new URL("../models/kjv-llama", import.meta.url));
