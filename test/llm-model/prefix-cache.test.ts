/**
 * The block manager and prefix caching, stepped by hand. The manager alone: chained hashes (a block is found only
 * after the same prefix), at least the last token left to compute, references counted exactly, unreferenced cached
 * blocks evicted least recently used once the free blocks are gone. The scheduler over the real kjv-llama (wasm, one
 * thread): a request whose prefix is cached starts computing after it and gives the same tokens as alone without
 * caching; preemption (a pool too small for everyone) and cancellation with shared blocks keep every reference
 * exact, checked against the running requests' block tables after every step; the pool is empty after every test.
 */
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WasmKernels } from "@actorlm/tensor";
import { BlockManager, type KvSequence } from "../../packages/llm/src/generation/block-manager.js";
import { StepCostModel } from "../../packages/llm/src/generation/chunking.js";
import { fitMaxTokens, validateRequest, type GenerateRequest } from "../../packages/llm/src/generation/request.js";
import { Scheduler } from "../../packages/llm/src/generation/scheduler.js";
import { Sequence, type StepOutput } from "../../packages/llm/src/generation/sequence.js";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { loadLlama } from "./helpers.js";

describe("BlockManager", () => {
  const B = 4;
  /** A table holding `tokens` written in full, its full blocks registered. */
  const written = (m: BlockManager, tokens: number[]): KvSequence => {
    const seq = m.sequence();
    m.attach(seq, tokens);
    expect(seq.reserve(tokens.length)).toBe(true);
    seq.length = tokens.length;
    m.commit(seq, tokens);
    return seq;
  };
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

  it("finds a block only after the same prefix (hashes chain), and leaves at least the last token to compute", () => {
    const m = new BlockManager({ blockSize: B, blocks: 16 });
    const a = written(m, range(0, 12));                                   // blocks [0..3] [4..7] [8..11]
    expect(m.lookup(m.sequence(), [...range(0, 8), 99, 99, 99, 99, 5])).toMatchObject({ blocks: 2, positions: 8, unreferenced: 0 });
    expect(m.lookup(m.sequence(), [99, 1, 2, 3, ...range(4, 8), 7]).blocks).toBe(0);   // same second block, other first
    expect(m.lookup(m.sequence(), range(0, 12)).blocks).toBe(2);          // all cached: the last block is computed again
    expect(m.lookup(m.sequence(), range(0, 13)).blocks).toBe(3);
    const y = written(m, [99, 1, 2, 3, ...range(4, 4)]);                 // the same second block after another first
    expect(y.blocks[1]).not.toBe(a.blocks[1]);
    const z = m.sequence();
    expect(m.attach(z, [99, 1, 2, 3, ...range(4, 4), 0])).toBe(8);
    expect(z.blocks).toEqual(y.blocks);                                   // y's second block, not a's
    y.free();
    z.free();
    const b = m.sequence();
    expect(m.attach(b, range(0, 13))).toBe(12);
    expect(b.blocks).toEqual(a.blocks);
    for (const block of a.blocks) expect(m.references(block)).toBe(2);
    m.check([a, b]);
    a.free();
    for (const block of b.blocks) expect(m.references(block)).toBe(1);
    b.free();
    expect(m.stats()).toEqual({ usedBlocks: 0, freeBlocks: 16, cachedBlocks: 5, evictions: 0 });
    m.check();
  });

  it("registers a block only once it is full: a block being written is never shared", () => {
    const m = new BlockManager({ blockSize: B, blocks: 8 });
    const tokens = range(0, 12);
    const a = m.sequence();
    expect(a.reserve(12)).toBe(true);
    a.length = 6;                                                         // one full block, the second half written
    m.commit(a, tokens);
    expect(m.lookup(m.sequence(), [...tokens, 1]).blocks).toBe(1);
    a.length = 8;
    m.commit(a, tokens);
    expect(m.lookup(m.sequence(), [...tokens, 1]).blocks).toBe(2);
    a.free();
    m.check();
  });

  it("a prefix is not shared while caching is off", () => {
    const m = new BlockManager({ blockSize: B, blocks: 8 }, { prefixCaching: false });
    const a = written(m, range(0, 8));
    expect(m.lookup(m.sequence(), range(0, 9)).blocks).toBe(0);
    a.free();
    expect(m.stats()).toEqual({ usedBlocks: 0, freeBlocks: 8, cachedBlocks: 0, evictions: 0 });
  });

  it("evicts unreferenced cached blocks least recently used first, after the free ones, last block of a sequence first", () => {
    const m = new BlockManager({ blockSize: B, blocks: 8 });
    const a = written(m, range(0, 8)), b = written(m, range(100, 8)), c = written(m, range(200, 8));
    const [a0, a1] = a.blocks, [b0, b1] = b.blocks, [c0, c1] = c.blocks;
    a.free();
    c.free();
    b.free();                                                             // least recently used: a, then c, then b
    const held = m.allocate(2 * B)!;                                      // the two never-used blocks go first
    expect(m.stats().evictions).toBe(0);
    const next = (): number => {
      const one = m.allocate(1)!;
      return one.blocks[0];
    };
    expect([next(), next(), next()]).toEqual([a1, a0, c1]);               // a's last block before its first
    expect(m.stats()).toMatchObject({ evictions: 3, cachedBlocks: 3 });
    expect(m.lookup(m.sequence(), range(0, 9)).blocks).toBe(0);           // a is gone
    expect(m.lookup(m.sequence(), range(200, 9)).blocks).toBe(1);         // c keeps its first block
    expect(m.lookup(m.sequence(), range(100, 9))).toMatchObject({ blocks: 2, unreferenced: 2 });
    const d = m.sequence();
    m.attach(d, range(100, 9));                                           // b is used again: now c0 is the oldest
    expect(m.allocate(1)!.blocks).toEqual([c0]);
    expect(m.allocate(1)).toBeUndefined();                                // b's blocks are referenced: nothing to evict
    expect(d.blocks).toEqual([b0, b1]);
    held.free();
    d.free();
  });
});

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");
const LIMITS = { maxSequenceLength: 1024, maxStopSequences: 4 };
let tok: Tokenizer;
let lm: Llama;
let small: Llama;
const made: Scheduler[] = [];
beforeAll(async () => {
  tok = await Tokenizer.fromDir(MODEL);
  lm = await loadLlama(MODEL, { kernels: await WasmKernels.create({ threads: 1 }), kvCacheTokens: 4096, maxBatchTokens: 64 });
  // 8 blocks of 16 positions: three requests of about 85 tokens (6 blocks) each, sharing their first 2, do not fit together
  small = await loadLlama(MODEL, { kernels: await WasmKernels.create({ threads: 1 }), kvCacheTokens: 128, maxBatchTokens: 64 });
});
afterEach(() => {
  for (const s of made.splice(0)) {
    expect(s.blocks.usedBlocks).toBe(0);                                  // every block free, or cached and unreferenced
    s.checkBlocks();
  }
});
afterAll(async () => {
  await lm.dispose();
  await small.dispose();
});

/** A scheduler stepped by hand over `model`, prefix caching on or off. */
function scheduler(model: Llama, prefixCaching: boolean): Scheduler {
  const limits = { maxConcurrentRequests: 8, maxQueuedRequests: 64, maxUnreadOutputs: 1_000 };
  const s = new Scheduler(model, { enqueue: () => undefined }, limits, new StepCostModel(), { prefixCaching });
  made.push(s);
  return s;
}

/** Submits `request` to `s` as request `id`. */
function submit(s: Scheduler, id: number, request: GenerateRequest): Sequence {
  const normalized = validateRequest(request, LIMITS);
  const ids = typeof normalized.prompt === "string" ? tok.encode(normalized.prompt) : [...normalized.prompt];
  const seq = new Sequence(tok, normalized, ids, fitMaxTokens(ids.length, normalized.maxTokens, LIMITS), s.blocks.sequence());
  s.submit(id, seq);
  return seq;
}

/** Steps until every id in `outputs` finished, checking the block books after every step; `each` runs after it. */
function runAll(s: Scheduler, outputs: Map<number, StepOutput[]>, each: (step: number) => void = () => undefined): void {
  let steps = 0;
  while ([...outputs.keys()].some((id) => s.has(id))) {
    expect(s.step(), "a step that could not run").toBe(true);
    s.checkBlocks();
    for (const [id, list] of outputs) if (s.has(id)) list.push(...(s.take(id) ?? []));
    each(++steps);
  }
}

/** Token ids of each request run alone, caching off. */
function alone(requests: readonly GenerateRequest[]): number[][] {
  return requests.map((r) => {
    const s = scheduler(lm, false);
    submit(s, 1, r);
    const outputs = new Map([[1, [] as StepOutput[]]]);
    runAll(s, outputs);
    return outputs.get(1)!.map((o) => o.tokenId);
  });
}

const SHARED = "And the LORD spake unto Moses, saying, Speak unto the children of Israel, and say unto them, When ye be come into the land which I give unto you,";
const REQUESTS: GenerateRequest[] = [
  { prompt: `${SHARED} then shall the land keep a sabbath`, maxTokens: 16, temperature: 0 },
  { prompt: `${SHARED} and ye shall reap the harvest thereof`, maxTokens: 14, temperature: 0.8, seed: 7 },
  { prompt: `${SHARED} ye shall`, maxTokens: 18, temperature: 0 },
];

describe("the scheduler with prefix caching", () => {
  /** The same requests generating 40 tokens: long enough that all three need more blocks than the small pool has. */
  const LONG = REQUESTS.map((r) => ({ ...r, maxTokens: 40 }));
  let expected: number[][];
  let expectedLong: number[][];
  beforeAll(() => {
    expected = alone(REQUESTS);
    expectedLong = alone(LONG);
  });

  it("a request whose prefix is cached computes only what follows it, and gives the same tokens", () => {
    const s = scheduler(lm, true);
    const first = new Map([[0, [] as StepOutput[]]]);
    submit(s, 0, REQUESTS[0]);
    runAll(s, first);
    const second = submit(s, 1, REQUESTS[1]);
    const prompt = second.promptIds.length;
    const cached = Math.floor((tok.encode(SHARED).length - 1) / 16) * 16;  // full blocks of the shared prefix
    expect(s.step()).toBe(true);
    expect(second.cached).toBe(prompt);                                   // its whole prompt in one step: the rest ran
    expect(s.recentSteps().at(-1)).toMatchObject({ rows: prompt - cached, prefillRows: prompt - cached });
    expect(s.stats().cachedPromptTokens).toBe(cached);
    const outputs = new Map([[1, s.take(1) ?? []]]);
    runAll(s, outputs);
    expect(first.get(0)!.map((o) => o.tokenId)).toEqual(expected[0]);
    expect(outputs.get(1)!.map((o) => o.tokenId)).toEqual(expected[1]);
  });

  it("identical prompts submitted at once: the first computes the prefix, the others attach it, all give the same tokens", () => {
    const s = scheduler(lm, true);
    const outputs = new Map<number, StepOutput[]>([0, 1, 2].map((i) => [i, []]));
    const seqs = [0, 1, 2].map((i) => submit(s, i, REQUESTS[0]));
    const prompt = seqs[0].promptIds.length;
    const cached = Math.floor((prompt - 1) / 16) * 16;
    runAll(s, outputs);
    for (const list of outputs.values()) expect(list.map((o) => o.tokenId)).toEqual(expected[0]);
    expect(s.stats()).toMatchObject({ promptTokens: 3 * prompt, cachedPromptTokens: 2 * cached });
  });

  it("a pool too small for everyone: preempted requests that share blocks keep references exact and give the same tokens", () => {
    const s = scheduler(small, true);
    const outputs = new Map<number, StepOutput[]>(LONG.map((_, i) => [i, []]));
    submit(s, 0, LONG[0]);
    runAll(s, new Map([[0, outputs.get(0)!]]), (step) => {
      if (step === 1) LONG.slice(1).forEach((r, i) => submit(s, i + 1, r));   // they join as the first decodes
    });
    runAll(s, outputs);
    expect([...outputs.values()].map((o) => o.map((x) => x.tokenId))).toEqual(expectedLong);
    expect(s.stats().preemptions).toBeGreaterThan(0);
    expect(s.stats().cachedPromptTokens).toBeGreaterThan(0);
  });

  it("cancelling a request that shares blocks drops exactly its references; the other finishes undisturbed", () => {
    const s = scheduler(lm, true);
    const first = new Map([[0, [] as StepOutput[]]]);
    submit(s, 0, REQUESTS[0]);
    runAll(s, first);                                                     // the shared prefix is cached now
    const one = submit(s, 1, REQUESTS[1]), two = submit(s, 2, REQUESTS[2]);
    const outputs = new Map<number, StepOutput[]>([[1, []], [2, []]]);
    let shared: number[] = [];
    runAll(s, outputs, (step) => {
      if (step !== 3) return;
      shared = two.kv.blocks.filter((b) => one.kv.blocks.includes(b));
      expect(shared.length).toBe(Math.floor((tok.encode(SHARED).length - 1) / 16));
      for (const b of shared) expect(s.blocks.references(b)).toBe(2);
      expect(s.cancel(1)).toBe(true);
      outputs.delete(1);
      for (const b of shared) expect(s.blocks.references(b)).toBe(1);
      s.checkBlocks();
    });
    expect(shared.length).toBeGreaterThan(0);
    expect(outputs.get(2)!.map((o) => o.tokenId)).toEqual(expected[2]);
  });
});
