/** The paged KV cache: block allocation and return, isolation between sequences, forward-pass validation, rewinding. */
import { join } from "node:path";
import { JsKernels } from "@actorlm/tensor";
import { beforeAll, describe, expect, it } from "vitest";
import { BlockManager } from "../../packages/llm/src/generation/block-manager.js";
import { KvStorage } from "../../packages/llm/src/kv-cache.js";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { blocksOf, loadLlama, session } from "./helpers.js";

let model: Llama;
beforeAll(async () => {
  model = await loadLlama(join(import.meta.dirname, "../../models/kjv-llama"), { kvCacheTokens: 256 });
});

describe("BlockManager", () => {
  const pool = () => new BlockManager(new KvStorage(new JsKernels(), { layers: 2, kvHeads: 1, headDim: 4, blockSize: 4, blocks: 5 }));

  it("hands out distinct blocks, grows a sequence a block at a time and takes every block back", () => {
    const kv = pool();
    const a = kv.allocate(5)!, b = kv.allocate(3)!;
    expect(a.blocks).toHaveLength(2);
    expect(b.blocks).toHaveLength(1);
    expect(new Set([...a.blocks, ...b.blocks]).size).toBe(3);
    expect(kv.freeBlocks).toBe(2);
    expect(b.reserve(8)).toBe(true);
    expect(b.blocks).toHaveLength(2);
    expect(new Set([...a.blocks, ...b.blocks]).size).toBe(4);
    a.free();
    a.free();                                                    // idempotent: blocks are not returned twice
    expect(kv.freeBlocks).toBe(3);
    b.free();
    expect(kv.freeBlocks).toBe(5);
    expect(kv.usedBlocks).toBe(0);
  });

  it("refuses what does not fit without taking anything", () => {
    const kv = pool();
    expect(kv.allocate(21)).toBeUndefined();
    expect(kv.freeBlocks).toBe(5);
    const a = kv.allocate(16)!;
    expect(a.reserve(24)).toBe(false);
    expect(a.blocks).toHaveLength(4);
    expect(kv.freeBlocks).toBe(1);
    expect(() => { a.free(); a.reserve(4); }).toThrow(expect.objectContaining({ code: "VALIDATION" }));
  });

  it("refuses a malformed shape (VALIDATION)", () => {
    expect(() => new KvStorage(new JsKernels(), { layers: 1, kvHeads: 1, headDim: 4, blockSize: 0, blocks: 1 })).toThrow(expect.objectContaining({ code: "VALIDATION" }));
    expect(() => new BlockManager({ blockSize: 0, blocks: 1 })).toThrow(expect.objectContaining({ code: "VALIDATION" }));
  });
});

describe("the model over the paged cache", () => {
  it("refuses bad batches (VALIDATION)", () => {
    const validation = expect.objectContaining({ code: "VALIDATION" });
    const kv = blocksOf(model).allocate(8)!;
    const run = (tokens: number[], start = 0, blocks: number[] = kv.blocks) => model.forward([{ tokens, start, blocks }]);
    expect(() => run([])).toThrow(validation);
    expect(() => run([4096])).toThrow(validation);
    expect(() => run([1.5])).toThrow(validation);
    expect(() => run([0], 1020)).toThrow(validation);                   // past what the blocks hold
    expect(() => run([0, 1], 0, [])).toThrow(validation);
    expect(() => model.forward([{ tokens: [0], start: 1024, blocks: Array(65).fill(kv.blocks[0]) }])).toThrow(validation); // past max_position_embeddings
    kv.free();
  });

  it("a rewound sequence gives the same logits as a fresh one", () => {
    const ids = [0, 1144, 260, 2092];
    const fresh = session(model, 8);
    const expected = fresh.forward(ids);
    fresh.free();
    const seq = session(model, 8);
    seq.forward([0, 5, 6, 7, 8]);
    const again = model.forward([{ tokens: ids, start: 0, blocks: seq.kv.blocks }]);   // overwrite from position 0
    expect([...again]).toEqual([...expected]);
    const rewound = model.forward([{ tokens: ids.slice(1), start: 1, blocks: seq.kv.blocks }]);
    expect([...rewound]).toEqual([...expected]);
    seq.free();
  });

  it("sequences do not share cache state: interleaved, each gives what it gives alone", () => {
    const alone = session(model, 16);
    const expected = alone.forward([0, 1144, 260]);
    alone.free();
    const a = session(model, 16), b = session(model, 16);
    a.forward([0, 1144]);
    b.forward([0, 77, 78, 79, 80, 81]);                                  // would overwrite a's positions if they shared blocks
    expect([...a.forward([260])]).toEqual([...expected]);
    a.free();
    b.free();
    expect(blocksOf(model).usedBlocks).toBe(0);
  });

  it("two sequences in one batch give what each gives alone", () => {
    const one = session(model, 16), two = session(model, 16);
    const x = one.forward([0, 1144, 260]), y = two.forward([0, 53, 54, 55, 56]);
    one.free();
    two.free();
    const a = blocksOf(model).allocate(16)!, b = blocksOf(model).allocate(16)!;
    const both = model.forward([{ tokens: [0, 1144, 260], start: 0, blocks: a.blocks }, { tokens: [0, 53, 54, 55, 56], start: 0, blocks: b.blocks }]);
    const V = model.config.vocabSize;
    let worst = 0;
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(both[i] - x[i]), Math.abs(both[V + i] - y[i]));
    expect(worst).toBeLessThan(1e-5);
    a.free();
    b.free();
  });
});
