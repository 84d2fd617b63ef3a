/** The KV cache and forward-pass validation: capacity refusals, positions, reuse. */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { KvCache } from "../../packages/llm/src/kv-cache.js";
import type { Llama } from "../../packages/llm/src/models/llama/model.js";
import { loadLlama } from "./helpers.js";

let model: Llama;
beforeAll(async () => {
  model = await loadLlama(join(import.meta.dirname, "../../models/kjv-llama"));
});

describe("KvCache", () => {
  it("has [layers][kvHeads][capacity][headDim] storage and tracks length", () => {
    const cache = model.newCache(16);
    expect(cache).toMatchObject({ layers: 6, kvHeads: 2, headDim: 64, capacity: 16, length: 0, remaining: 16 });
    expect(cache.keys(0).length).toBe(2 * 16 * 64);
    model.forward([0, 1144, 260], cache);
    expect(cache.length).toBe(3);
    cache.reset();
    expect(cache.length).toBe(0);
  });

  it("refuses to outgrow its capacity (VALIDATION), never slides", () => {
    const cache = model.newCache(4);
    model.forward([0, 1144, 260], cache);
    expect(() => model.forward([2092, 270], cache)).toThrow(expect.objectContaining({ code: "VALIDATION" }));
    expect(cache.length).toBe(3);
    model.forward([2092], cache);
    expect(() => model.forward([270], cache)).toThrow(/capacity 4/);
  });

  it("refuses bad input with VALIDATION", () => {
    const cache = model.newCache(8);
    const validation = expect.objectContaining({ code: "VALIDATION" });
    expect(() => model.forward([], cache)).toThrow(validation);
    expect(() => model.forward([4096], cache)).toThrow(validation);
    expect(() => model.forward([1.5], cache)).toThrow(validation);
    expect(() => model.forward([0], cache, { start: 1 })).toThrow(validation);
    expect(() => model.newCache(2048)).toThrow(validation);
    expect(() => model.forward([0], new KvCache({ layers: 6, kvHeads: 4, headDim: 64, capacity: 8 }))).toThrow(validation);
    expect(() => new KvCache({ layers: 6, kvHeads: 2, headDim: 64, capacity: 0 })).toThrow(validation);
  });

  it("a reset or rewound cache gives the same logits as a fresh one", () => {
    const ids = [0, 1144, 260, 2092];
    const fresh = Float32Array.from(model.forward(ids, model.newCache(8)));
    const cache = model.newCache(8);
    model.forward([0, 5, 6, 7, 8], cache);
    cache.reset();
    expect([...model.forward(ids, cache)]).toEqual([...fresh]);
    model.forward([9, 9], cache);
    expect([...model.forward(ids.slice(1), cache, { start: 1 })]).toEqual([...fresh]); // rewind to position 1
    expect(cache.length).toBe(4);
  });

  it("separate caches do not share state", () => {
    const a = model.newCache(8), b = model.newCache(8);
    model.forward([0, 1144], a);
    model.forward([0, 77, 78, 79], b);
    model.forward([0, 1144], a, { start: 0 });
    expect([...model.forward([260], a)]).toEqual([...model.forward([0, 1144, 260], model.newCache(8))]);
  });
});
