// Concurrent jobs from several async tasks: one model worker batching them, each request its own KV blocks, results unchanged.
import { InferenceBuilder } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, generate, streamingHandler } from "@actorlm/llm";

await using inference = await new InferenceBuilder().init(LlmEngine, { model: EMBEDDED_MODEL_DIR }).build(streamingHandler);

const prompts = ["In the beginning", "Jesus wept.", "Blessed are the", "And God said, Let there be"];

// Each task runs its own jobs one after another; the tasks run at the same time.
async function task(name: string, prompt: string): Promise<string> {
  const first = await generate(inference, { prompt, maxTokens: 12, temperature: 0 });
  const second = await generate(inference, { prompt: prompt + first.text, maxTokens: 12, temperature: 0 });
  return `${name}: ${JSON.stringify(prompt + first.text + second.text)}`;
}

const lines = await Promise.all(prompts.map((p, i) => task(`task ${i}`, p)));
for (const line of lines) console.log(line);
