import { WasmKernels } from "@actorlm/tensor";
import { loadLlama } from "/work/main/test/llm-model/helpers.ts";
const t0 = performance.now();
const model = await loadLlama("/work/main/bench/.models/smollm-135m-shape-bf16", { kernels: await WasmKernels.create({ threads: 1 }), format: (process.argv[2] ?? "float32") as "float32" });
console.log("load ms", (performance.now() - t0).toFixed(0), "rss MB", (process.memoryUsage().rss / 2 ** 20).toFixed(0), "peak MB", (process.resourceUsage().maxRSS / 1024).toFixed(0));
await model.dispose();
