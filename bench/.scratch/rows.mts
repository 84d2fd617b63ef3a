import { WasmKernels } from "@actorlm/tensor";
import { loadLlama } from "../../test/llm-model/helpers.ts";
import { SMOLLM_135M, benchModel } from "../shapes.ts";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
const which = process.argv[2] ?? "smol", format = (process.argv[3] ?? "float32") as "float32";
const dir = which === "smol" ? benchModel(SMOLLM_135M) : EMBEDDED_MODEL_DIR;
const model = await loadLlama(dir, { kernels: await WasmKernels.create({ threads: 2 }), format, kvCacheTokens: 16384 });
const seqs = Array.from({ length: 16 }, () => model.kv.allocate(1024)!);
// fill each with 128 positions
for (const s of seqs) { model.forward([{ tokens: Array.from({ length: 128 }, (_, i) => (i * 7 + 5) % 4000), start: 0, blocks: s.blocks, logits: "none" }]); }
const time = (d: number, p: number) => {
  const batch = seqs.slice(0, d).map((s) => ({ tokens: [7], start: 128, blocks: s.blocks }));
  if (p > 0) batch.push({ tokens: Array.from({ length: p }, (_, i) => (i * 3 + 11) % 4000), start: 200, blocks: seqs[15].blocks, logits: "last" as const } as never);
  const ms: number[] = [];
  for (let r = 0; r < 7; r++) { const t0 = performance.now(); model.forward(batch); ms.push(performance.now() - t0); }
  ms.sort((a, b) => a - b);
  return `${ms[0].toFixed(1)}/${ms[3].toFixed(1)}`;
};
for (const d of [1, 4, 8, 16]) {
  const line = [0, 8, 16, 32, 64, 128].map((p) => `p${p}=${time(d, p)}`).join(" ");
  console.log(`${which} ${format} d=${d}: ${line}`);
}
