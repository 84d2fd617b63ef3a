import { WasmKernels } from "@actorlm/tensor";
import { loadLlama, session } from "/work/main/test/llm-model/helpers.ts";
const kernels = await WasmKernels.create({ threads: 2 });
const model = await loadLlama("/work/main/bench/.models/smollm-135m-shape-bf16", { kernels, format: (process.argv[2] ?? "int8") as "int8", kvCacheTokens: 1024 });
const s = session(model, 1000);
s.forward(Array.from({ length: 128 }, (_, i) => i + 5));
(kernels as unknown as { debugCounters(): number[] }).debugCounters();
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  for (let i = 0; i < 32; i++) s.forward([7]);
  const c = (kernels as unknown as { debugCounters(): number[] }).debugCounters();
  console.log("ms/token", ((performance.now() - t0) / 32).toFixed(2), "chunks main/helper per token", (c[0] / 32).toFixed(0), (c[1] / 32).toFixed(0), "spins", (c[2] / 32).toFixed(0), "naps", (c[3] / 32).toFixed(1));
  s.kv.length = 128;
}
await model.dispose();
