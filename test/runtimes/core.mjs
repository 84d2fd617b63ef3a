#!/usr/bin/env node
// The core checks, as a plain script any runtime runs (vitest does not run under Bun or Deno): the actor runtime
// with a toy model in a real worker thread (injection, streaming, cancellation, errors and their codes across the
// thread), kjv-llama against the transformers reference in test/fixtures (token ids, greedy continuations), and the
// HTTP server answering one completion over loopback. Every check fails on a wrong answer; exit 1 if any did.
//   node test/runtimes/core.mjs        bun test/runtimes/core.mjs        deno run -A test/runtimes/core.mjs
// From the repository root, after `npm run build`. test/runtimes/run.sh runs it on every runtime.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cancel, In, InferenceBuilder, InferenceError, Model, ModelHost, Out, handler } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, generate, streamingHandler } from "@actorlm/llm";
import { createServer } from "@actorlm/server";
import { Counter } from "../fixtures/runtime/counter.mjs";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "../..");
const REF = JSON.parse(readFileSync(join(ROOT, "test/fixtures/kjv-llama.json"), "utf8"));
const runtimeName = globalThis.Bun ? `Bun ${globalThis.Bun.version}` : globalThis.Deno ? `Deno ${globalThis.Deno.version.deno}` : `Node.js ${process.versions.node}`;

let passed = 0;
const failed = [];
/** Runs one named check; a thrown error or a false `expect` is a failure. */
async function check(name, fn) {
  const t0 = performance.now();
  try {
    await fn();
    passed++;
    console.log(`ok    ${name} (${Math.round(performance.now() - t0)} ms)`);
  } catch (error) {
    failed.push(name);
    console.log(`FAIL  ${name}: ${error?.stack ?? error}`);
  }
}
function expectEqual(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
async function rejectsWith(promise, code, what) {
  const error = await promise.then(() => undefined, (e) => e);
  if (!(error instanceof InferenceError) || error.code !== code) throw new Error(`${what}: want ${code}, got ${error}`);
  return error;
}

const t0 = performance.now();
console.log(`core checks on ${runtimeName}`);

// ---- the runtime, with the toy Counter model in a real model worker ----
const countTo = handler([In(), Model(), Cancel(), Out()], async (n, model, cancel, out) => {
  for (let i = 0; i < n; i++) {
    cancel.throwIfCancelled();
    await out.emit(await model.call("add", 1));
  }
});
const failing = handler([In()], async (message) => {
  throw new Error(message);
});

await check("runtime: injection, a stream of outputs, join", async () => {
  const inference = await new InferenceBuilder().init(Counter, { start: 10 }).build(countTo);
  try {
    const job = inference.infer(3).spawn();
    const seen = [];
    for await (const v of job.stream) seen.push(v);
    await job.join();
    expectEqual(seen, [11, 12, 13], "outputs");
    expectEqual(await inference.infer(2).run(), [14, 15], "run()");
  } finally {
    await inference.close();
  }
});

await check("runtime: cancel() ends the stream and join() rejects with CANCELLED", async () => {
  const inference = await new InferenceBuilder().init(Counter, { start: 0 }).build(countTo);
  try {
    const job = inference.infer(1_000_000).spawn();
    let n = 0;
    for await (const _ of job.stream) if (++n === 3) job.cancel();
    await rejectsWith(job.join(), "CANCELLED", "join after cancel");
    if (n > 20) throw new Error(`${n} outputs after cancelling at 3`);
  } finally {
    await inference.close();
  }
});

await check("runtime: errors keep their codes across the thread", async () => {
  await rejectsWith(ModelHost.start(Counter, { start: "x" }), "VALIDATION", "bad load arguments");
  await rejectsWith(ModelHost.start(Counter, { failLoad: "no weights" }), "MODEL_LOAD", "a failing load");
  const inference = await new InferenceBuilder().init(Counter, {}).build(failing);
  try {
    const error = await rejectsWith(inference.infer("boom").run(), "HANDLER_FAILED", "a throwing handler");
    if (error.cause?.message !== "boom") throw new Error(`cause ${error.cause}`);
  } finally {
    await inference.close();
  }
});

// ---- kjv-llama against transformers ----
const prompts = REF.prompts.slice(0, 3);
const host = await ModelHost.start(LlmEngine, { model: EMBEDDED_MODEL_DIR, threads: 2 });
const inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
await check("conformance: prompt token ids equal transformers'", async () => {
  for (const p of prompts) expectEqual(await host.call("encode", p.prompt), p.ids, `ids of ${JSON.stringify(p.prompt)}`);
});
await check("conformance: 40 greedy tokens equal transformers' for 3 prompts", async () => {
  for (const p of prompts) {
    const { tokenIds, text } = await generate(inference, { prompt: p.prompt, maxTokens: 40, temperature: 0, ignoreEos: true });
    expectEqual(tokenIds, p.greedy_ids.slice(0, 40), `greedy ids of ${JSON.stringify(p.prompt)}`);
    if (!p.greedy_text.startsWith(text)) throw new Error(`text ${JSON.stringify(text)} is not a prefix of ${JSON.stringify(p.greedy_text)}`);
  }
});
await inference.close();
await host.close();

// ---- the server: one completion over loopback HTTP ----
await check("server: POST /v1/completions answers the greedy continuation", async () => {
  const server = createServer({ models: [EMBEDDED_MODEL_DIR], port: 0, engine: { threads: 1 } });
  try {
    const url = await server.start(); // listens, then loads the model
    expectEqual((await fetch(`${url}/health`)).status, 200, "GET /health");
    const p = prompts[0];
    const response = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "kjv-llama", prompt: p.prompt, max_tokens: 8, temperature: 0 }),
    });
    const body = await response.json();
    expectEqual(response.status, 200, `status (${JSON.stringify(body)})`);
    if (!p.greedy_text.startsWith(body.choices[0].text) || body.choices[0].text.length === 0) {
      throw new Error(`text ${JSON.stringify(body.choices[0].text)} is not the start of ${JSON.stringify(p.greedy_text)}`);
    }
    expectEqual(body.usage.completion_tokens, 8, "completion tokens");
  } finally {
    await server.close();
  }
});

console.log(`${runtimeName}: ${passed} passed, ${failed.length} failed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);
