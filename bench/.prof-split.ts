import { WasmKernels } from "@actorlm/tensor";
import { loadLlama, session } from "/work/main/test/llm-model/helpers.ts";
const threads = Number(process.argv[2] ?? 1), format = (process.argv[3] ?? "bfloat16") as "bfloat16";
const kernels = await WasmKernels.create({ threads });
const model = await loadLlama(process.argv[4] ?? "/work/main/bench/.models/smollm-135m-shape-bf16", { kernels, format, kvCacheTokens: 1024 });
const s = session(model, 1000);
s.forward(Array.from({ length: 128 }, (_, i) => i + 5));
// patch read to time the flush
const read = kernels.read.bind(kernels);
let flushMs = 0;
kernels.read = (b, n) => { const t = performance.now(); const r = read(b, n); flushMs += performance.now() - t; return r; };
for (let round = 0; round < 3; round++) {
  flushMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < 64; i++) s.forward([7]);
  const total = performance.now() - t0;
  console.log(format, threads, "ms/token", (total / 64).toFixed(2), "of which run", (flushMs / 64).toFixed(2), "record+js", ((total - flushMs) / 64).toFixed(2));
  s.kv.length = 128;
}
await model.dispose();
