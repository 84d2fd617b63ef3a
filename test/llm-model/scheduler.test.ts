/**
 * The scheduler over the real kjv-llama (wasm kernels, one thread), stepped by hand so every step is visible: batched
 * requests give exactly what each gives alone, a cancelled request's blocks are back before the next step and
 * the others go on undisturbed, one cancelled while waiting never runs, and a pool too small for everyone makes
 * requests give their blocks back and recompute, with the same outputs. A forward pass that fails in the backend (a
 * real wasm trap) fails every request held with WORKER_CRASHED and takes the model out of service. The pool is empty
 * after every test.
 */
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
// the scheduler runs on the same module instances as the model helpers.ts loads (the package's sources)
import { StepCostModel } from "../../packages/llm/src/generation/chunking.js";
import { fitMaxTokens, validateRequest, type GenerateRequest } from "../../packages/llm/src/generation/request.js";
import { Scheduler } from "../../packages/llm/src/generation/scheduler.js";
import { Sequence, type StepOutput } from "../../packages/llm/src/generation/sequence.js";
import { WasmKernels, type Buffer, type Kernels } from "@actorlm/tensor";
import { InferenceError } from "@actorlm/runtime";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { loadLlama } from "./helpers.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");
const LIMITS = { maxSequenceLength: 1024, maxStopSequences: 4 };
let tok: Tokenizer;
let lm: Llama;
beforeAll(async () => {
  tok = await Tokenizer.fromDir(MODEL);
  lm = await loadLlama(MODEL, { kernels: await WasmKernels.create({ threads: 1 }), kvCacheTokens: 4096, maxBatchTokens: 64 });
});
/** Every scheduler a test made: each one's pool must be empty after it (every block free, or cached and unreferenced). */
const made: Scheduler[] = [];
afterEach(() => {
  for (const s of made.splice(0)) {
    expect(s.blocks.usedBlocks).toBe(0);
    s.checkBlocks();
  }
});
afterAll(() => lm.dispose());

/** A sequence of `request` on the blocks of scheduler `s`. */
function sequence(request: GenerateRequest, s: Scheduler): Sequence {
  const normalized = validateRequest(request, LIMITS);
  const ids = typeof normalized.prompt === "string" ? tok.encode(normalized.prompt) : [...normalized.prompt];
  return new Sequence(tok, normalized, ids, fitMaxTokens(ids.length, normalized.maxTokens, LIMITS), s.blocks.sequence());
}

/** A scheduler stepped by hand (its own step tasks are dropped). */
function scheduler(options: { maxConcurrentRequests?: number; model?: Llama } = {}): Scheduler {
  const limits = { maxConcurrentRequests: options.maxConcurrentRequests ?? 8, maxQueuedRequests: 64, maxUnreadOutputs: 1_000 };
  const s = new Scheduler(options.model ?? lm, { enqueue: () => undefined }, limits, new StepCostModel());
  made.push(s);
  return s;
}

/** Steps until every id in `outputs` finished, collecting their outputs; `each` runs after every step. */
function runAll(s: Scheduler, outputs: Map<number, StepOutput[]>, each: (step: number) => void = () => undefined): number {
  let steps = 0;
  while ([...outputs.keys()].some((id) => s.has(id))) {
    expect(s.step(), "a step that could not run").toBe(true);
    steps++;
    for (const [id, list] of outputs) if (s.has(id)) list.push(...(s.take(id) ?? []));
    each(steps);
  }
  return steps;
}

/** The token ids `request` gives alone. */
function alone(request: GenerateRequest): number[] {
  const s = scheduler();
  s.submit(1, sequence(request, s));
  const outputs = new Map([[1, [] as StepOutput[]]]);
  runAll(s, outputs);
  return outputs.get(1)!.map((o) => o.tokenId);
}

const REQUESTS: GenerateRequest[] = [
  { prompt: "In the beginning God created", maxTokens: 30, temperature: 0 },
  { prompt: "And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When ye be come into the land which I give unto you,", maxTokens: 20, temperature: 0 },
  { prompt: "Blessed are the", maxTokens: 25, temperature: 0.8, seed: 7 },
];

describe("Scheduler, stepped by hand", () => {
  let expected: number[][];
  beforeAll(() => {
    expected = REQUESTS.map(alone);
  });

  it("three requests in one batch give what each gives alone, in fewer steps than alone", () => {
    const s = scheduler();
    const outputs = new Map<number, StepOutput[]>();
    REQUESTS.forEach((r, i) => {
      s.submit(i, sequence(r, s));
      outputs.set(i, []);
    });
    const steps = runAll(s, outputs);
    expect([...outputs.values()].map((o) => o.map((x) => x.tokenId))).toEqual(expected);
    expect(steps).toBe(30); // as long as the longest: the others ran in the same forward passes
  });

  it("a cancelled request's blocks are back before the next step, and the others are undisturbed", () => {
    const s = scheduler();
    const outputs = new Map<number, StepOutput[]>(REQUESTS.map((_, i) => [i, []]));
    REQUESTS.forEach((r, i) => s.submit(i, sequence(r, s)));
    let freedAt = -1;
    runAll(s, outputs, (step) => {
      if (step !== 5) return;
      const before = s.blocks.usedBlocks;
      expect(s.cancel(1)).toBe(true);
      freedAt = before - s.blocks.usedBlocks;                 // blocks it held, back at once
      outputs.delete(1);
      expect(s.stats()).toMatchObject({ running: 2, queued: 0 });
    });
    expect(freedAt).toBeGreaterThan(0);
    expect(outputs.get(0)!.map((o) => o.tokenId)).toEqual(expected[0]);
    expect(outputs.get(2)!.map((o) => o.tokenId)).toEqual(expected[2]);
    expect(s.has(1)).toBe(false);
  });

  it("a request cancelled while it waits for the batch never runs", () => {
    const s = scheduler({ maxConcurrentRequests: 1 });
    s.submit(0, sequence(REQUESTS[0], s));
    s.submit(1, sequence(REQUESTS[1], s));
    const outputs = new Map<number, StepOutput[]>([[0, []]]);
    s.step();
    expect(s.stats()).toMatchObject({ running: 1, queued: 1, admitted: 1 });
    expect(s.cancel(1)).toBe(true);
    runAll(s, outputs);
    expect(s.stats()).toMatchObject({ running: 0, queued: 0, admitted: 1 });
    expect(outputs.get(0)!.map((o) => o.tokenId)).toEqual(expected[0]);
  });

  it("a pool too small for everyone: requests give their blocks back, rejoin, recompute, and give the same tokens", async () => {
    // 6 blocks of 16 positions: each request needs 2–4 of them, the three together about 9
    const small = await loadLlama(MODEL, { kernels: await WasmKernels.create({ threads: 1 }), kvCacheTokens: 96, maxBatchTokens: 64 });
    const s = scheduler({ model: small });
    const outputs = new Map<number, StepOutput[]>(REQUESTS.map((_, i) => [i, []]));
    REQUESTS.forEach((r, i) => s.submit(i, sequence(r, s)));
    runAll(s, outputs);
    expect([...outputs.values()].map((o) => o.map((x) => x.tokenId))).toEqual(expected);
    expect(s.stats().preemptions).toBeGreaterThan(0);
    expect(s.blocks.usedBlocks).toBe(0);
    await small.dispose();
  });

  it("a forward pass that fails in the backend: every request held fails with WORKER_CRASHED, the driver is told once, nothing runs after", async () => {
    const kernels = await WasmKernels.create({ threads: 1 });
    const broken = await loadLlama(MODEL, { kernels, kvCacheTokens: 256, maxBatchTokens: 64 });
    const crashes: InferenceError[] = [];
    const limits = { maxConcurrentRequests: 1, maxQueuedRequests: 4, maxUnreadOutputs: 1_000 };
    const s = new Scheduler(broken, { enqueue: () => undefined, crash: (error) => crashes.push(error) }, limits, new StepCostModel());
    made.push(s);
    s.submit(0, sequence(REQUESTS[0], s));
    s.submit(1, sequence(REQUESTS[1], s));           // waits: one request at a time
    expect(s.step()).toBe(true);
    expect(s.take(0)).toHaveLength(1);
    trap(kernels);

    const failure = catching(() => s.step());
    expect(failure.code).toBe("WORKER_CRASHED");
    expect(failure.message).toMatch(/^a forward pass failed in the wasm backend \(RangeError: wasm kernels are unusable after a failure: .+\); the model's memory is in an unknown state/);
    expect(crashes).toEqual([failure]);
    for (const id of [0, 1]) expect(catching(() => s.take(id))).toBe(failure);  // running and waiting alike
    expect(s.blocks.usedBlocks).toBe(0);
    expect(catching(() => s.submit(2, sequence(REQUESTS[2], s)))).toBe(failure);
    expect(catching(() => s.step())).toBe(failure);
    expect(catching(() => s.forwardOutside([{ tokens: [0, 1], start: 0, blocks: [0] }]))).toBe(failure);
    expect(crashes).toHaveLength(1);
    await broken.dispose();
  });
});

/** Makes `kernels` trap for real: one op over memory 2 GiB in, far past the end of this small model's memory. */
function trap(kernels: Kernels): void {
  const far = { length: 16, ptr: 0x7fff0000 } as Buffer;
  kernels.add(far, far, far, 16);
  expect(() => kernels.read(kernels.buffer(16))).toThrow(/^wasm kernels failed: /);
}

/** What `fn` throws, as an InferenceError (failing the test when it returns or throws anything else). */
function catching(fn: () => unknown): InferenceError {
  try {
    fn();
  } catch (error) {
    if (InferenceError.is(error)) return error;
    throw error;
  }
  throw new Error("expected a throw");
}
