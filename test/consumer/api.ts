// Type-checked by test/consumer/run.mjs in a consumer project, strict, against the installed packages' .d.ts, with
// skipLibCheck off and no @types/node of its own: the packages declare what their types need. Never run.
import { InferenceBuilder, InferenceError, ModelHost, type ErrorCode } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, generate, streamingHandler, type ModelInfo, type TokenOutput } from "@actorlm/llm";
import { createServer, type ServerOptions } from "@actorlm/server";
import { WasmKernels, type Kernels } from "@actorlm/tensor";

export async function library(): Promise<string> {
  const inference = await new InferenceBuilder()
    .init(LlmEngine, { model: EMBEDDED_MODEL_DIR, dtype: "float32", device: "auto", verbose: false })
    .build(streamingHandler);
  try {
    const job = inference.infer({ prompt: "In the beginning", maxTokens: 8, temperature: 0 }).spawn();
    const tokens: TokenOutput[] = [];
    for await (const t of job.stream) tokens.push(t);
    await job.join();
    const { text, finishReason } = await generate(inference, { prompt: "Jesus wept.", maxTokens: 4 });
    return `${tokens.map((t) => t.token).join("")}${text}${finishReason ?? ""}`;
  } catch (error) {
    if (error instanceof InferenceError) {
      const code: ErrorCode = error.code;
      return code;
    }
    throw error;
  } finally {
    await inference.close();
  }
}

export async function host(): Promise<ModelInfo> {
  const h = await ModelHost.start(LlmEngine, { model: EMBEDDED_MODEL_DIR });
  try {
    const info: ModelInfo = await h.call("info");
    const fallback: string | null = info.fallback;
    return { ...info, fallback };
  } finally {
    await h.close();
  }
}

export async function server(): Promise<void> {
  const options: ServerOptions = { models: [EMBEDDED_MODEL_DIR], port: 0 };
  const s = createServer(options);
  const url: string = await s.start();
  await s.close();
  void url;
}

export async function kernels(): Promise<number> {
  const k: Kernels = await WasmKernels.create({ threads: 1 });
  const n = k.threads;
  await k.dispose();
  return n;
}
