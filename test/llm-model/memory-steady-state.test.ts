/**
 * Backend memory has a steady state: a model serves forward passes of row counts 1..maxBatchTokens (split between one
 * to three sequences at random positions), first once each in rising order, then cycling in rising order, then in
 * random order. After the first pass of each size the kernels' high-water mark and memory in use never move again,
 * and the high-water mark is the one a freshly loaded model reaches after a handful of passes: memory follows the
 * model's limits, not the history of shapes (before, each new row count doubled the int8 and ternary products'
 * scratch). Afterwards the model still computes exactly what the fresh one does.
 *
 * The wasm backend serves 2,000 passes per dtype (float32, float16, bfloat16, int8, q4 and ternary on kjv-llama, and the
 * packed BitNet model). The js reference (about 0.2 s a pass here) and the gpu backend in gpu.js's cpu mode (about a
 * second a pass) serve fewer, smaller passes: 16 and 4 per dtype after the rising pass, at most 8 rows and 32
 * positions. The gpu backend stores float formats only.
 */
import { join } from "node:path";
import { GpuKernels } from "@actorlm/gpu";
import { JsKernels, WasmKernels, type Kernels, type WeightFormat } from "@actorlm/tensor";
import { describe, expect, it } from "vitest";
import { seededUniform } from "../seeded.js";
import { BlockManager, type KvSequence } from "../../packages/llm/src/generation/block-manager.js";
import type { CausalLM } from "../../packages/llm/src/models/causal-lm.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";

const ROOT = join(import.meta.dirname, "../..");
const LLAMA = join(ROOT, "models/kjv-llama");
const BITNET = join(ROOT, "models/kjv-bitnet-packed");
const VOCAB = 4096;
const KV_TOKENS = 1024;

/** A model under test: its directory and the dtype it is stored as. */
type Subject = readonly [label: string, dir: string, format: WeightFormat];
const FLOATS: Subject[] = [["float32", LLAMA, "float32"], ["float16", LLAMA, "float16"], ["bfloat16", LLAMA, "bfloat16"]];
const EVERY: Subject[] = [...FLOATS, ["int8", LLAMA, "int8"], ["q4", LLAMA, "q4"], ["ternary", LLAMA, "ternary"], ["kjv-bitnet-packed", BITNET, "ternary"]];

/** One backend: how to start it, which models, how many passes of at most `rows` rows starting before `maxStart`. */
interface Backend {
  readonly name: string;
  readonly make: () => Promise<Kernels>;
  readonly subjects: Subject[];
  readonly passes: number;
  readonly rows: number;
  readonly maxStart: number;
}

const BACKENDS: Backend[] = [
  { name: "wasm, 2 threads", make: () => WasmKernels.create({ threads: 2 }), subjects: EVERY, passes: 2000, rows: 16, maxStart: 240 },
  { name: "js", make: async () => new JsKernels(), subjects: EVERY, passes: 16, rows: 8, maxStart: 32 },
  { name: "gpu (gpu.js cpu mode)", make: () => GpuKernels.create({ mode: "cpu" }), subjects: FLOATS, passes: 4, rows: 8, maxStart: 32 },
];

async function load(backend: Backend, subject: Subject): Promise<CausalLM> {
  const [, dir, format] = subject;
  const { model } = await loadModel(dir, { kernels: await backend.make(), format, maxBatchTokens: backend.rows, kvCacheTokens: KV_TOKENS });
  return model;
}

/** One forward pass of `rows` rows split between one to three sequences at random positions (blocks given back after). */
function pass(model: CausalLM, rows: number, maxStart: number, random: () => number): void {
  const parts = Math.min(rows, 1 + Math.floor(random() * 3));
  const sequences: { tokens: number[]; start: number; blocks: number[]; logits: "last" | "all" }[] = [];
  const held: KvSequence[] = [];
  const blocks = new BlockManager(model.kv);
  try {
    for (let i = 0, left = rows; i < parts; i++) {
      const n = i === parts - 1 ? left : 1 + Math.floor(random() * (left - (parts - 1 - i)));
      left -= n;
      const start = Math.floor(random() * maxStart);
      const kv = blocks.allocate(start + n);
      if (kv === undefined) throw new Error(`the KV pool has no room for ${start + n} positions`);
      held.push(kv);
      const tokens = Array.from({ length: n }, () => Math.floor(random() * VOCAB));
      sequences.push({ tokens, start, blocks: kv.blocks, logits: random() < 0.25 ? "all" : "last" });
    }
    model.forward(sequences);
  } finally {
    for (const kv of held) kv.free();
  }
}

/** The same fixed work on any model: two prompts prefilled in chunks, then decode steps of both in one batch. */
function script(model: CausalLM, rows: number): Float32Array[] {
  const random = seededUniform(7);
  const blocks = new BlockManager(model.kv);
  const a = blocks.allocate(64)!, b = blocks.allocate(64)!;
  const prompt = (n: number) => Array.from({ length: n }, () => Math.floor(random() * VOCAB));
  const out: Float32Array[] = [];
  try {
    for (const [kv, n] of [[a, rows], [a, Math.max(1, rows >> 1)], [b, rows - 1 || 1]] as const) {
      out.push(model.forward([{ tokens: prompt(n), start: kv.length, blocks: kv.blocks, logits: "all" }]));
      kv.length += n;
    }
    for (let step = 0; step < 3; step++) {
      out.push(model.forward([a, b].map((kv) => ({ tokens: prompt(1), start: kv.length, blocks: kv.blocks }))));
      a.length++;
      b.length++;
    }
  } finally {
    a.free();
    b.free();
  }
  return out;
}

describe.each(BACKENDS)("kernel memory in a steady state: $name", (backend) => {
  it.each(backend.subjects)("%s: high-water mark flat after one pass per size, as a fresh model's; outputs as a fresh model's", async (label, dir, format) => {
    const subject: Subject = [label, dir, format];
    const model = await load(backend, subject);
    const kernels = model.kernels;
    try {
      const random = seededUniform(1);
      for (let rows = 1; rows <= backend.rows; rows++) pass(model, rows, backend.maxStart, random);
      const steady = { highWater: kernels.memoryHighWater(), inUse: kernels.memoryBytes() };
      let moved: string | undefined;
      for (let i = 0; i < backend.passes && moved === undefined; i++) {
        const rising = i < backend.passes / 2;
        const rows = rising ? 1 + (i % backend.rows) : 1 + Math.floor(random() * backend.rows);
        pass(model, rows, backend.maxStart, random);
        if (kernels.memoryHighWater() !== steady.highWater) moved = `pass ${i} (${rising ? "rising" : "random"}, ${rows} rows): ${kernels.memoryHighWater()} bytes`;
      }
      expect(moved, `high-water mark ${steady.highWater} bytes after warm-up`).toBeUndefined();
      expect({ highWater: kernels.memoryHighWater(), inUse: kernels.memoryBytes() }).toEqual(steady);
      expect(steady.highWater).toBeLessThan(kernels.memoryLimit);

      const fresh = await load(backend, subject);
      try {
        expect(script(model, backend.rows)).toEqual(script(fresh, backend.rows));
        expect(fresh.kernels.memoryHighWater(), "a fresh model's high-water mark after a few passes").toBe(steady.highWater);
      } finally {
        await fresh.dispose();
      }
    } finally {
      await model.dispose();
    }
  }, 240_000);
});
