import { WasmKernels } from "@actorlm/tensor";
import { loadLlama } from "../../test/llm-model/helpers.ts";
import { SMOLLM_135M, benchModel } from "../shapes.ts";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
const which = process.argv[2] ?? "smol", format = (process.argv[3] ?? "float32") as "float32";
const dir = which === "smol" ? benchModel(SMOLLM_135M) : EMBEDDED_MODEL_DIR;
const model = await loadLlama(dir, { kernels: await WasmKernels.create({ threads: Number(process.argv[4] ?? 2) }), format, kvCacheTokens: 16384 });
const seqs = Array.from({ length: 16 }, () => model.kv.allocate(1024)!);
for (const s of seqs) model.forward([{ tokens: Array.from({ length: 128 }, (_, i) => (i * 7 + 5) % 4000), start: 0, blocks: s.blocks, logits: "none" }]);
const best = (f: () => void) => { const ms: number[] = []; for (let r = 0; r < 9; r++) { const t0 = performance.now(); f(); ms.push(performance.now() - t0); } ms.sort((a, b) => a - b); return `${ms[0].toFixed(2)}/${ms[4].toFixed(2)}`; };
for (const n of [1, 8, 16]) {
  const many = (logits: "last" | "none") => seqs.slice(0, n).map((s) => ({ tokens: [7], start: 128, blocks: s.blocks, logits }));
  const one = (logits: "all" | "none") => [{ tokens: Array.from({ length: n }, () => 7), start: 128, blocks: seqs[0].blocks, logits }];
  console.log(`${which} ${format} n=${n}: ${n} seqs+logits ${best(() => model.forward(many("last")))}  ${n} seqs no logits ${best(() => model.forward(many("none")))}  1 seq ${n} rows+logits ${best(() => model.forward(one("all")))}  1 seq no logits ${best(() => model.forward(one("none")))}`);
}
