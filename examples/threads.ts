// Requests from four application threads at once, all served by one model worker: the main thread owns the
// model host and hands each thread a port (host.connect()); the threads (a CpuPool, i.e. piscina) build inferences
// on ModelClients and run 8 requests each concurrently. One copy of the weights, one FIFO, one KV slot per request.
import { CpuPool, ModelHost } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine } from "@actorlm/llm";
import type { MessagePort } from "node:worker_threads";

interface Batch {
  port: MessagePort;
  prompts: string[];
}
interface Handled {
  threadId: number;
  completions: string[];
}

await using host = await ModelHost.start(LlmEngine, { model: EMBEDDED_MODEL_DIR });
await using threads = new CpuPool<Batch, Handled>({ filename: new URL("./threads-worker.mjs", import.meta.url), minThreads: 4, maxThreads: 4 });

const verses = ["In the beginning", "Jesus wept.", "Blessed are the", "The LORD is my shepherd;", "And God said, Let there be", "Psalms 23\n\n", "Thou shalt not", "Ask, and it shall"];
const batches = [0, 1, 2, 3].map((t) => verses.map((_, i) => verses[(t + i) % verses.length]));

// Each batch goes to a pool thread with its own port to the host (transferred, not copied).
const handled = await Promise.all(
  batches.map((prompts) => {
    const port = host.connect();
    return threads.run({ port, prompts }, { transfer: [port] });
  }),
);
handled.forEach((batch, t) => batch.completions.forEach((text, i) => console.log(`batch ${t} ${JSON.stringify(batches[t][i])}: ${JSON.stringify(text)}`)));
console.log(`threads: ${new Set(handled.map((b) => b.threadId)).size}, live KV slots: ${await host.call("activeSequences")}, clients left: ${host.clients}`);
