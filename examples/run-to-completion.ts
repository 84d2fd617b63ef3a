// Run to completion: one call, the whole completion back.
import { InferenceBuilder } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, generate, streamingHandler } from "@actorlm/llm";

await using inference = await new InferenceBuilder().init(LlmEngine, { model: EMBEDDED_MODEL_DIR }).build(streamingHandler);

// `generate` joins the job's outputs; `inference.infer(request).run()` gives the raw outputs instead.
const completion = await generate(inference, { prompt: "The LORD is my shepherd;", maxTokens: 30, temperature: 0 });
console.log(JSON.stringify(completion));
