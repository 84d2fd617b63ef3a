// CPU-time (not wall) per token at threads = 1: comparable across runs on a busy machine.
import { WasmKernels } from "@actorlm/tensor";
import { loadLlama, session } from "/work/main/test/llm-model/helpers.ts";
const dir = process.argv[2] ?? "/work/main/bench/.models/smollm-135m-shape-bf16";
for (const format of (process.argv[3] ?? "float32,bfloat16,float16,int8").split(",") as "float32"[]) {
  const model = await loadLlama(dir, { kernels: await WasmKernels.create({ threads: 1 }), format, kvCacheTokens: 1024 });
  const s = session(model, 1000);
  const prompt = Array.from({ length: 128 }, (_, i) => i + 5);
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  let best = { pre: Infinity, dec: Infinity };
  for (let round = 0; round < 3; round++) {
    s.kv.length = 0;
    let t = cpu();
    s.forward(prompt);
    const pre = cpu() - t;
    t = cpu();
    for (let i = 0; i < 32; i++) s.forward([7]);
    const dec = (cpu() - t) / 32;
    best = { pre: Math.min(best.pre, pre), dec: Math.min(best.dec, dec) };
  }
  console.log(format, "prefill", (128000 / best.pre).toFixed(0), "tok/cpu-s; decode", (1000 / best.dec).toFixed(1), "tok/cpu-s");
  await model.dispose();
}
