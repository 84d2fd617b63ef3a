// Step rate of the scheduler under the request path, vs the request-path aggregate.
import { ModelHost, InferenceBuilder } from "@actorlm/runtime";
import { LlamaModel, streamingHandler, EMBEDDED_MODEL_DIR } from "@actorlm/llm";
const dir = process.argv[2] === "smol" ? "bench/.models/smollm-135m-shape-bf16" : EMBEDDED_MODEL_DIR;
const dtype = (process.argv[3] ?? "float32") as "float32";
const host = await ModelHost.start(LlamaModel, { model: dir, dtype, threads: Number(process.argv[4] ?? 2) });
const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
const G = Number(process.argv[5] ?? 64);
for (const C of [1, 1, 8, 8]) {
  const s0 = await host.call("stats"); const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, (_, i) => inference.infer({ prompt: `In the beginning ${i}`, maxTokens: G, temperature: 0, ignoreEos: true }).run()));
  const ms = performance.now() - t0; const s1 = await host.call("stats");
  const steps = s1.steps - s0.steps;
  console.log(`C=${C}: ${(C * G * 1000 / ms).toFixed(0)} tok/s overall, ${steps} steps, ${(ms / steps).toFixed(2)} ms per step wall, ${((s1.stepSequences - s0.stepSequences) / steps).toFixed(2)} seqs/step`);
}
await inference.close(); await host.close();
