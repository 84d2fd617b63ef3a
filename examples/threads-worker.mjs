// @ts-check
// One application thread of examples/threads.ts (a CpuPool / piscina task; plain JavaScript, since Node 20 worker
// threads cannot load TypeScript): it connects to the model host through the port it was given, builds an
// inference on the client with the ready-made streaming handler, and runs its requests concurrently.
import { threadId } from "node:worker_threads";
import { InferenceBuilder, ModelClient } from "@actorlm/runtime";
import { generate, streamingHandler } from "@actorlm/llm";

/**
 * Handles one batch of requests on this thread.
 * @param {{ port: import("node:worker_threads").MessagePort, prompts: string[] }} task
 * @returns {Promise<{ threadId: number, completions: string[] }>}
 */
export default async function handleRequests({ port, prompts }) {
  const client = ModelClient.connect(port); // this thread's handle to the one model worker
  try {
    const inference = await new InferenceBuilder().withModel(client).build(streamingHandler);
    const results = await Promise.all(prompts.map((prompt) => generate(inference, { prompt, maxTokens: 16, temperature: 0 })));
    await inference.close();
    return { threadId, completions: results.map((r) => r.text) };
  } finally {
    await client.close(); // frees whatever this thread's requests still held; the model stays loaded
  }
}
