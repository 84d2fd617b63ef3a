// The kernels' memory over a history of batch shapes: loads a model, runs one forward pass of each row count
// 1, 2, …, N in turn (each shape new, as prompts of growing length or continuous batching bring them), and prints the
// memory high-water mark after load, after the first pass and after the last, per dtype.
//   node --import tsx bench/memory.ts [--model DIR] [--shapes 200] [--threads 1] [--backend wasm] [--dtype int8,ternary]
import { parseArgs } from "node:util";
import { BlockManager, EMBEDDED_MODEL_DIR, loadModel } from "@actorlm/llm";
import { GpuKernels } from "@actorlm/gpu";
import { createKernels, type CpuKernelsName, type Kernels, type WeightFormat } from "@actorlm/tensor";

const { values: flags } = parseArgs({
  options: {
    model: { type: "string", default: EMBEDDED_MODEL_DIR },
    shapes: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
    backend: { type: "string", default: "wasm" },
    dtype: { type: "string", default: "float32,float16,bfloat16,int8,ternary" },
  },
});
const shapes = Number(flags.shapes);
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

for (const format of flags.dtype.split(",") as WeightFormat[]) {
  const kernels: Kernels = flags.backend === "gpu"
    ? await GpuKernels.create({ mode: "cpu" })
    : await createKernels(flags.backend as CpuKernelsName, { threads: Number(flags.threads) });
  try {
    const { model } = await loadModel(flags.model, { kernels, format, maxBatchTokens: Math.max(512, shapes) });
    const afterLoad = kernels.memoryHighWater();
    let afterFirst = 0, failed = "";
    for (let rows = 1; rows <= shapes && failed === ""; rows++) {
      const kv = new BlockManager(model.kv).allocate(rows);
      if (kv === undefined) throw new Error(`the KV pool has no room for ${rows} positions`);
      try {
        model.forward([{ tokens: Array.from({ length: rows }, (_, i) => (7 * i + 3) % model.config.vocabSize), start: 0, blocks: kv.blocks }]);
      } catch (error) {
        failed = ` (rows ${rows} failed: ${error instanceof Error ? error.message : String(error)})`;
      } finally {
        kv.free();
      }
      if (rows === 1) afterFirst = kernels.memoryHighWater();
    }
    console.log(`${format}: high-water MB after load ${mb(afterLoad)}, after 1 row ${mb(afterFirst)}, after rows 1..${shapes} ${mb(kernels.memoryHighWater())}${failed}`);
  } finally {
    await kernels.dispose();
  }
}
