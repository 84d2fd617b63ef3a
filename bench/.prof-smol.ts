import { WasmKernels } from "@actorlm/tensor";
import { loadLlama, session } from "/work/main/test/llm-model/helpers.ts";
const threads = Number(process.argv[2] ?? 1), format = (process.argv[3] ?? "bfloat16") as "bfloat16";
const model = await loadLlama("/work/main/bench/.models/smollm-135m-shape-bf16", { kernels: await WasmKernels.create({ threads }), format, kvCacheTokens: 1024 });
const s = session(model, 1000);
let logits = s.forward(Array.from({ length: 128 }, (_, i) => i + 5));
const argmax = (r: Float32Array) => { let b = 0; for (let i = 1; i < 4096; i++) if (r[i] > r[b]) b = i; return b; };
for (let round = 0; round < 3; round++) {
  const t0 = performance.now();
  for (let i = 0; i < 64; i++) logits = s.forward([argmax(logits)]);
  console.log(format, threads, "decode tok/s", (64000 / (performance.now() - t0)).toFixed(1));
  s.kv.length = 128;
}
await model.dispose();
