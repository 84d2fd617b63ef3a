// Kernel micro-benchmark: matrix products of model-sized shapes on a backend, in GFLOP/s and GB/s of weights.
//   node --import tsx bench/kernels.ts [--backend wasm|js] [--threads N] [--rows R] [--json]
import { parseArgs } from "node:util";
import { createKernels, WEIGHT_FORMATS, type CpuKernelsName } from "@actorlm/tensor";

const { values: flags } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    threads: { type: "string", default: "1" },
    rows: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
  },
});
const threads = Number(flags.threads), R = Number(flags.rows);
const kernels = await createKernels(flags.backend as CpuKernelsName, { threads });
const shapes: [string, number, number][] = [
  ["kjv q/o 256×256", 256, 256], ["kjv gate 768×256", 768, 256], ["kjv down 256×768", 256, 768],
  ["smol q 576×576", 576, 576], ["smol gate 1536×576", 1536, 576], ["smol down 576×1536", 576, 1536],
];
const results: Record<string, unknown>[] = [];
for (const format of WEIGHT_FORMATS) {
  for (const [label, N, K] of shapes) {
    const w = kernels.weight([N, K], format, Float32Array.from({ length: N * K }, (_, i) => Math.sin(i) * 0.05));
    const x = kernels.buffer(R * K), out = kernels.buffer(R * N);
    kernels.write(x, Float32Array.from({ length: R * K }, (_, i) => Math.cos(i)));
    const reps = Math.max(3, Math.round(2e8 / (N * K * R)));
    kernels.matmul(out, x, w, R);
    kernels.read(out, 1);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) kernels.matmul(out, x, w, R);
    kernels.read(out, 1);
    const s = (performance.now() - t0) / 1000 / reps;
    results.push({ format, shape: label, rows: R, us: +(s * 1e6).toFixed(1), gflops: +((2 * N * K * R) / s / 1e9).toFixed(2), weight_gb_s: +(w.bytes / s / 1e9).toFixed(2) });
  }
}
await kernels.dispose();
if (flags.json) console.log(JSON.stringify(results));
else console.table(results);
