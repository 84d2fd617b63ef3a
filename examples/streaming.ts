// Streaming: print each token as the model produces it.
import { InferenceBuilder } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, streamingHandler } from "@actorlm/llm";

await using inference = await new InferenceBuilder()
  .init(LlmEngine, { model: EMBEDDED_MODEL_DIR, dtype: "float32" })
  .build(streamingHandler);

const job = inference.infer({ prompt: "In the beginning", maxTokens: 40, temperature: 0 }).spawn();
for await (const t of job.stream) process.stdout.write(t.token);
await job.join();
process.stdout.write("\n");
