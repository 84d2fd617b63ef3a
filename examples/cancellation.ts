// Cancellation: stop a job from outside (cancel(), an AbortSignal) or by leaving the loop early.
// Each way ends the stream, makes join() reject with CANCELLED and frees the request's KV slot.
import { InferenceBuilder, InferenceError, ModelHost } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, streamingHandler } from "@actorlm/llm";

await using host = await ModelHost.start(LlmEngine, { model: EMBEDDED_MODEL_DIR });
await using inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
const request = { prompt: "And God said, Let there be", maxTokens: 500, temperature: 0 };

/** How a job ended: "completed" or its error code. */
const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(() => "completed", (e: unknown) => (InferenceError.is(e) ? e.code : String(e)));

// 1. job.cancel()
const job = inference.infer(request).spawn();
let seen = 0;
for await (const _ of job.stream) if (++seen === 5) job.cancel("enough");
console.log(`cancel(): stream ended after ${seen} tokens, join → ${await outcome(job.join())}`);

// 2. An AbortSignal (AbortSignal.timeout(ms) works the same way)
const controller = new AbortController();
const running = inference.infer(request).withSignal(controller.signal).spawn();
let read = 0;
for await (const _ of running.stream) if (++read === 3) controller.abort();
console.log(`signal: stream ended after ${read} tokens, join → ${await outcome(running.join())}`);

// 3. Leaving `for await` early
const early = inference.infer(request).spawn();
for await (const t of early.stream) if (t.index === 2) break;
console.log(`break: join → ${await outcome(early.join())}`);

console.log(`live KV slots: ${await host.call("activeSequences")}`);
