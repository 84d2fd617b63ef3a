import { fileURLToPath } from "node:url";

/** The embedded model shipped with the repository (`models/kjv-llama`), used when `--model` is not given. */
export const EMBEDDED_MODEL_DIR: string = fileURLToPath(new URL("../../../models/kjv-llama", import.meta.url));
