// Attention micro-benchmark: one attention op over a layer of the SmolLM-135M shape (9 heads, 3 KV heads, head size
// 64, blocks of 16), a prefill of P rows and S decode rows at position P, in µs per op.
//   node --import tsx bench/attention.ts [--backend wasm|js] [--threads N] [--prompt 128] [--streams 8] [--json]
import { parseArgs } from "node:util";
import { createKernels, type BatchSequence, type CpuKernelsName } from "@actorlm/tensor";

const { values: flags } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    threads: { type: "string", default: "1" },
    prompt: { type: "string", default: "128" },
    streams: { type: "string", default: "8" },
    json: { type: "boolean", default: false },
  },
});
const heads = 9, kvHeads = 3, d = 64, bs = 16;
const P = Number(flags.prompt), S = Number(flags.streams), perSequence = Math.ceil((P + 1) / bs);
const kernels = await createKernels(flags.backend as CpuKernelsName, { threads: Number(flags.threads) });
const cache = kernels.kvCache({ layers: 1, kvHeads, headDim: d, blockSize: bs, blocks: Math.max(1, S) * perSequence });
const blocks = (s: number) => Array.from({ length: perSequence }, (_, i) => s * perSequence + i);
const rows = Math.max(P, S);
const k = kernels.buffer(rows * kvHeads * d), v = kernels.buffer(rows * kvHeads * d);
const q = kernels.buffer(rows * heads * d), out = kernels.buffer(rows * heads * d);
kernels.write(k, Float32Array.from({ length: rows * kvHeads * d }, (_, i) => Math.sin(i)));
kernels.write(v, Float32Array.from({ length: rows * kvHeads * d }, (_, i) => Math.cos(i)));
kernels.write(q, Float32Array.from({ length: rows * heads * d }, (_, i) => Math.sin(i / 3)));
for (let s = 0; s < Math.max(1, S); s++) kernels.kvWrite(cache, 0, k, v, kernels.batch(cache, [{ tokens: Array(P + 1).fill(0), start: 0, blocks: blocks(s) }]));

/** µs per attention op over `sequences` (the fastest of 5 rounds of `reps`). */
function time(sequences: BatchSequence[], reps: number): number {
  const batch = kernels.batch(cache, sequences), params = { heads, kvHeads, headDim: d, scale: 1 / Math.sqrt(d) };
  let best = Infinity;
  for (let round = 0; round < 6; round++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) kernels.attention(out, q, cache, 0, batch, params);
    kernels.read(out, 1);
    if (round > 0) best = Math.min(best, ((performance.now() - t0) * 1000) / reps);
  }
  return best;
}
const results = [
  { case: `prefill of ${P} rows`, us: +time([{ tokens: Array(P).fill(0), start: 0, blocks: blocks(0) }], 20).toFixed(1) },
  { case: `${S} decode rows at position ${P}`, us: +time(Array.from({ length: S }, (_, s) => ({ tokens: [0], start: P, blocks: blocks(s) })), 200).toFixed(1) },
];
await kernels.dispose();
if (flags.json) console.log(JSON.stringify(results));
else console.table(results);
