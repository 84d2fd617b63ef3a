// Scheduler steps in-process (no worker, no messaging): time per step split into forward and the rest.
import { StepCostModel, Scheduler, Sequence, Tokenizer, fitMaxTokens, validateRequest, EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { WasmKernels } from "@actorlm/tensor";
import { loadLlama } from "../../test/llm-model/helpers.ts";
const dir = process.argv[2] === "smol" ? "bench/.models/smollm-135m-shape-bf16" : EMBEDDED_MODEL_DIR;
const lm = await loadLlama(dir, { kernels: await WasmKernels.create({ threads: Number(process.argv[3] ?? 2) }), format: "float32" });
const tok = await Tokenizer.fromDir(dir);
let fwd = 0;
const forward = lm.forward.bind(lm);
(lm as unknown as { forward: typeof forward }).forward = (b) => { const t = performance.now(); const r = forward(b); fwd += performance.now() - t; return r; };
const LIMITS = { maxSequenceLength: 1024, maxStopSequences: 4 };
for (const C of [1, 8, 1, 8]) {
  const s = new Scheduler(lm, { enqueue: () => undefined }, { maxConcurrentRequests: 16, maxQueuedRequests: 64, maxUnreadOutputs: 1e9 }, new StepCostModel());
  for (let i = 0; i < C; i++) {
    const n = validateRequest({ prompt: `In the beginning ${i}`, maxTokens: 128, temperature: 0, ignoreEos: true }, LIMITS);
    const ids = tok.encode(n.prompt);
    s.submit(i, new Sequence(tok, n, ids, fitMaxTokens(ids.length, n.maxTokens, LIMITS), lm.kv.allocate(0)!));
  }
  s.step(); for (let i = 0; i < C; i++) s.take(i);
  fwd = 0; const t0 = performance.now(); let steps = 0;
  while (s.step()) { steps++; for (let i = 0; i < C; i++) if (s.has(i)) s.take(i); }
  const ms = performance.now() - t0;
  console.log(`C=${C}: ${steps} steps, ${(ms / steps).toFixed(2)} ms/step, forward ${(fwd / steps).toFixed(2)} ms, ${(C * 127 * 1000 / ms).toFixed(0)} tok/s`);
}
await lm.dispose();
