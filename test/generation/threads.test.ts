/**
 * The model actor used from application threads (real worker threads, each with a ModelClient and the ready-made
 * streaming handler): 4 threads × 8 concurrent greedy requests give exactly the one-thread greedy tokens, all in
 * the owner's one model; cancelling from a client thread, closing a client or a thread exiting mid-stream leaves
 * no live sequence behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelHost } from "@actorlm/runtime";
import { LlmEngine, startSequence } from "@actorlm/llm";
import { TestThread } from "../threads.js";
import { MODEL, REF } from "./helpers.js";

const FIXTURE = new URL("../fixtures/threads/llama-client.mjs", import.meta.url);
/** The weights as the engine holds them (float32): 5.8 M parameters × 4 bytes. */
const WEIGHT_BYTES = 23e6;

let host: ModelHost<LlmEngine>;
beforeAll(async () => {
  host = await ModelHost.start(LlmEngine, { model: MODEL });
});
afterAll(() => host.close());

/** How many sequences the model has ever started: ids are handed out in order, so a probe's id tells. */
async function sequencesStarted(): Promise<number> {
  const { id } = await startSequence(host, { prompt: "A", maxTokens: 1 });
  await host.call("release", id);
  return id;
}

/** Asks the model (a round trip through its FIFO) until no sequence is live; fails after 10 s. */
async function noLiveSequence(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await host.call("activeSequences")) !== 0) if (Date.now() > deadline) throw new Error("a sequence is still live after 10 s");
}

describe("application threads sharing one model worker", () => {
  it("4 threads × 8 concurrent greedy requests: the one-thread greedy tokens, every request in the owner's model", async () => {
    const rssBefore = process.memoryUsage().rss;
    const threads = Array.from({ length: 4 }, () => new TestThread(FIXTURE, host.connect()));
    try {
      const prompts = threads.map((_, t) => Array.from({ length: 8 }, (_, i) => REF.prompts[(t + i) % REF.prompts.length]));
      const before = await sequencesStarted();
      const results = await Promise.all(threads.map((thread, t) => thread.ask<number[][]>("greedy", { prompts: prompts[t].map((p) => p.prompt), maxTokens: 12 })));
      results.forEach((ids, t) => expect(ids).toEqual(prompts[t].map((p) => p.greedy_ids.slice(0, 12))));
      expect(await sequencesStarted()).toBe(before + 32 + 1); // all 32 ran in this one model (plus the probe)
      expect(host.clients).toBe(4);
      for (const thread of threads) {
        // No thread holds anything like a copy of the weights: they live in the one model worker.
        const { heapUsed, arrayBuffers } = await thread.ask<{ heapUsed: number; arrayBuffers: number }>("memory");
        expect(heapUsed + arrayBuffers).toBeLessThan(WEIGHT_BYTES);
      }
      // The process grew by the 4 threads (a Node thread with @actorlm/llm loaded and its tokenizer pool thread:
      // ~40 MB each here), not by 4 more models (another model worker alone adds ~57 MB more on top of that).
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(4 * 75 * 2 ** 20);
    } finally {
      await Promise.all(threads.map((t) => t.stop()));
    }
  });

  it("cancelling from a client thread (cancel(), an AbortSignal, break) frees each slot", async () => {
    const thread = new TestThread(FIXTURE, host.connect());
    try {
      expect(await thread.ask("cancel", { prompt: REF.prompts[1].prompt })).toEqual(["CANCELLED", "CANCELLED", "CANCELLED"]);
      expect(await host.call("activeSequences")).toBe(0);
    } finally {
      await thread.stop();
    }
  });

  it("a client thread that exits mid-stream leaves no live sequence behind", async () => {
    const thread = new TestThread(FIXTURE, host.connect());
    expect(await thread.ask("stream", { prompt: REF.prompts[0].prompt })).toBe("streaming");
    expect(await host.call("activeSequences")).toBe(1);
    await thread.stop(); // its handler never reaches its finally: the model frees the slot itself
    await noLiveSequence();
    expect(host.clients).toBe(0);
  });

  it("a client that closes mid-stream frees its slot and leaves the model running", async () => {
    const thread = new TestThread(FIXTURE, host.connect());
    try {
      expect(await thread.ask("stream", { prompt: REF.prompts[2].prompt })).toBe("streaming");
      expect(await host.call("activeSequences")).toBe(1);
      expect(await thread.ask("close")).toBe(true);
      await noLiveSequence();
      expect(host.state).toBe("ready");
      const { id } = await startSequence(host, { prompt: REF.prompts[0].prompt, maxTokens: 1, temperature: 0 });
      expect((await host.call("step", id)).tokenId).toBe(REF.prompts[0].greedy_ids[0]);
    } finally {
      await thread.stop();
    }
  });
});
