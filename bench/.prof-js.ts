import { WasmKernels } from "@actorlm/tensor";
import { loadLlama, session } from "/work/main/test/llm-model/helpers.ts";
const model = await loadLlama("/work/main/models/kjv-llama", { kernels: await WasmKernels.create({ threads: 1 }), kvCacheTokens: 1024 });
const s = session(model, 1000);
s.forward(Array.from({ length: 16 }, (_, i) => i + 5));
for (let round = 0; round < 40; round++) {
  for (let i = 0; i < 200; i++) s.forward([7]);
  s.kv.length = 16;
}
await model.dispose();
