/**
 * Broken GGUF files: each is refused with MODEL_LOAD naming the metadata key or tensor at fault (the reader's
 * GgufError, or the loader's LlmError), never another kind of error; a seeded fuzz of truncations, flipped bytes and
 * overwritten integers over a real converted file finds no crash either. The refusals through a real model host are
 * checked for the CLI's path (LlamaModel.load in a worker).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufFile, JsKernels } from "@actorlm/tensor";
import { LlamaModel } from "@actorlm/llm";
import { loadModel } from "../../packages/llm/src/models/registry.js";
import { ggufModelTokenizer, openGgufModel } from "../../packages/llm/src/gguf/model-file.js";
import { MODEL, rejection } from "../generation/helpers.js";
import { seededUniform } from "../seeded.js";
import { convertLlama, ggufBytes, type ConvertOptions } from "./writer.js";

const dir = mkdtempSync(join(tmpdir(), "actorlm-gguf-bad-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let good: Uint8Array;
let count = 0;

beforeAll(async () => {
  const path = join(dir, "good.gguf");
  await convertLlama(MODEL, path, { matrices: "Q8_0" });
  good = new Uint8Array(readFileSync(path));                // a copy: a Buffer's slice() would share its bytes
});

/** A converted file edited by `edit`. */
async function converted(edit: ConvertOptions["edit"]): Promise<string> {
  const path = join(dir, `bad-${count++}.gguf`);
  await convertLlama(MODEL, path, { matrices: "Q8_0", edit });
  return path;
}

/** `bytes` written to a fresh file. */
function file(bytes: Uint8Array): string {
  const path = join(dir, `bad-${count++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

/** Loads `path` as a model on the reference kernels; returns the MODEL_LOAD error it must be refused with. */
async function refused(path: string): Promise<Error & { code: string }> {
  const error = await loadModel(path, { kernels: new JsKernels(), kvCacheTokens: 64 }).then(
    () => { throw new Error("loaded"); },
    (e: unknown) => e as Error & { code: string },
  );
  expect(error.code).toBe("MODEL_LOAD");
  return error;
}

describe("GGUF: refusing broken files with MODEL_LOAD naming what is wrong", () => {
  it("wrong magic", async () => {
    const bytes = good.slice();
    bytes[0] = 0x47 ^ 1;
    expect((await refused(file(bytes))).message).toMatch(/not a GGUF file/);
  });

  it("versions other than 2 and 3 (v2 files load)", async () => {
    for (const v of [1, 4]) {
      const bytes = good.slice();
      new DataView(bytes.buffer).setUint32(4, v, true);
      expect((await refused(file(bytes))).message).toMatch(new RegExp(`GGUF version ${v} is not supported`));
    }
    const v2 = good.slice();
    new DataView(v2.buffer).setUint32(4, 2, true);
    const { model } = await loadModel(file(v2), { kernels: new JsKernels(), kvCacheTokens: 64 });
    await model.dispose();
  });

  it("truncated data: the tensor whose bytes run past the end", async () => {
    const error = await refused(file(good.subarray(0, good.length - 5000)));
    expect(error.message).toMatch(/tensor "[^"]+"\): its \d+ bytes at offset \d+ run past the data section/);
  });

  it("truncated metadata: the key being read", async () => {
    expect((await refused(file(good.subarray(0, 2000)))).message).toMatch(/metadata key "tokenizer\.ggml\.tokens"|metadata pair/);
  });

  it("a tensor whose shape disagrees with the metadata: both names and both shapes", async () => {
    const path = await converted((m) => {
      m["llama.feed_forward_length"] = { type: "u32", value: 512 };
    });
    const error = await refused(path);
    expect(error.message).toContain('weight "model.layers.0.mlp.gate_proj.weight"');
    expect(error.message).toContain('GGUF tensor "blk.0.ffn_gate.weight"');
    expect(error.message).toContain("[768, 256]");
    expect(error.message).toContain("[512, 256]");
  });

  it("a tensor type that disagrees with its data, or with its shape's blocks; an unknown type", async () => {
    const retype = (name: string, typeId: number) => converted((_, tensors) => {
      tensors.find((t) => t.name === name)!.typeId = typeId;
    });
    // Q8_0 bytes read as F32 need 4 × 32 / 34 as many: they run into the next tensor's
    expect((await refused(await retype("blk.0.attn_q.weight", 0))).message).toMatch(/tensor "blk\.0\.[a-z_]+\.weight"\): its bytes overlap those of tensor "blk\.0\.attn_q\.weight"/);
    const ragged = await converted((_, tensors) => {
      Object.assign(tensors.find((t) => t.name === "output_norm.weight")!, { typeId: 8, dims: [250] });
    });
    expect((await refused(ragged)).message).toMatch(/tensor "output_norm\.weight"\): its first dimension 250 is not a multiple of Q8_0's block of 32/);
    expect((await refused(await retype("output_norm.weight", 16))).message).toMatch(/tensor "output_norm\.weight"\): has type IQ2_XXS, which is not supported/);
    expect((await refused(await retype("output_norm.weight", 99))).message).toMatch(/has type type 99, which is not supported/);
  });

  it("a misaligned offset", async () => {
    const bytes = good.slice();
    const f = GgufFile.open(file(bytes));
    const last = f.tensors[f.tensors.length - 1];
    f.close();
    // the last tensor info's offset is the u64 just before the data section's padding: find it by value
    const view = new DataView(bytes.buffer);
    let at = -1;
    for (let i = 0; i < bytes.length - 8; i++) if (view.getBigUint64(i, true) === BigInt(last.offset) && i > 20000) { at = i; break; }
    view.setBigUint64(at, BigInt(last.offset + 4), true);
    expect((await refused(file(bytes))).message).toMatch(new RegExp(`tensor "${last.name.replace(/\./g, "\\.")}"\\): offset ${last.offset + 4} is not a multiple of the alignment 32`));
  });

  it("a missing metadata key: the key", async () => {
    for (const key of ["llama.embedding_length", "general.architecture", "tokenizer.ggml.tokens", "llama.attention.layer_norm_rms_epsilon"]) {
      const path = await converted((m) => {
        delete m[key];
      });
      const error = key.startsWith("tokenizer") ? await expectThrows(() => ggufModelTokenizer(path)) : await refused(path);
      expect(error.message).toContain(`"${key}"`);
    }
  });

  it("an unsupported architecture, RoPE scaling or tokenizer: the key and value", async () => {
    const arch = await converted((m) => {
      m["general.architecture"] = { type: "string", value: "mamba" };
    });
    expect((await refused(arch)).message).toMatch(/"general\.architecture" is "mamba", which is not supported/);
    const yarn = await converted((m) => {
      m["llama.rope.scaling.type"] = { type: "string", value: "yarn" };
    });
    expect((await refused(yarn)).message).toMatch(/"llama\.rope\.scaling\.type" is "yarn"/);
    const pre = await converted((m) => {
      m["tokenizer.ggml.pre"] = { type: "string", value: "mystery" };
    });
    expect((await expectThrows(() => ggufModelTokenizer(pre))).message).toMatch(/"tokenizer\.ggml\.pre" is "mystery"/);
  });

  it("RoPE divisors (rope_freqs.weight) that are not llama3 scaling's: the tensor", async () => {
    const path = await converted((_, tensors) => {
      tensors.push({ name: "rope_freqs.weight", dims: [32], typeId: 0, data: new Uint8Array(Float32Array.from({ length: 32 }, (_, i) => 1 + i).buffer) });
    });
    expect((await refused(path)).message).toMatch(/tensor "rope_freqs\.weight" holds RoPE divisors that are not llama3 scaling's/);
  });

  it("a missing tensor: its checkpoint and GGUF names", async () => {
    const path = await converted((_, tensors) => {
      tensors.splice(tensors.findIndex((t) => t.name === "blk.3.ffn_down.weight"), 1);
    });
    const error = await refused(path);
    expect(error.message).toContain('weight "model.layers.3.mlp.down_proj.weight"');
    expect(error.message).toContain("is missing");
    expect(error.message).toContain('GGUF tensor "blk.3.ffn_down.weight"');
  });

  it("through a model host's worker: MODEL_LOAD with the same message", async () => {
    const bytes = good.slice();
    new DataView(bytes.buffer).setUint32(4, 7, true);
    const error = await rejection(LlamaModel.load({ model: file(bytes) }), "MODEL_LOAD");
    expect(error.message).toMatch(/GGUF version 7/);
  });
});

async function expectThrows(f: () => unknown): Promise<Error & { code: string }> {
  try {
    await f();
  } catch (e) {
    expect((e as { code: string }).code).toBe("MODEL_LOAD");
    return e as Error & { code: string };
  }
  throw new Error("did not throw");
}

describe("GGUF: fuzz", () => {
  // Mutations of a real converted file: truncations anywhere, bytes flipped in the header, metadata and tensor
  // infos, and 64-bit little-endian integers overwritten with large or small values (counts, lengths, dims,
  // offsets). Each file is opened, every tensor read (its ends; the whole of it in some), and the model mapped and its tokenizer built: each either
  // works or is refused with MODEL_LOAD; nothing else may be thrown.
  it("600 mutated files: each loads or is refused with MODEL_LOAD, never another error", () => {
    const random = seededUniform(21);
    const header = dataStart(good);
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 600; i++) {
      const bytes = good.slice();
      const kind = i % 3;
      let body = bytes;
      if (kind === 0) body = bytes.subarray(0, Math.floor(random() * bytes.length));
      else if (kind === 1) for (let k = 0; k < 1 + Math.floor(random() * 4); k++) bytes[Math.floor(random() * header)] ^= 1 << Math.floor(random() * 8);
      else {
        const at = Math.floor(random() * (header - 8));
        const values = [0n, 1n, 0xffffffffn, 0xffffffffffffffffn, BigInt(Math.floor(random() * 1e6)), 1n << 40n];
        new DataView(bytes.buffer).setBigUint64(at, values[Math.floor(random() * values.length)], true);
      }
      const path = join(dir, "fuzz.gguf");
      writeFileSync(path, body);
      try {
        const f = GgufFile.open(path);
        try {
          // every tensor's first and last 32 values (the whole of each, every 50th file)
          for (const name of f.names) {
            const bytes = f.info(name).byteLength;
            if (i % 50 === 0) f.toFloat32(name);
            else for (const at of [0, bytes - 128]) f.readInto(name, Math.max(0, at), new Float32Array(Math.min(32, bytes / 4)));
          }
        } finally {
          f.close();
        }
        openGgufModel(path).source.close();
        ggufModelTokenizer(path);
        outcomes.ok++;
      } catch (e) {
        if ((e as { code?: string }).code !== "MODEL_LOAD") throw new Error(`mutation ${i} (kind ${kind}) threw ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(300);
    expect(outcomes.ok).toBeGreaterThan(0);
  });

  it("a hand-made file with an array of arrays, a huge string and a bad boolean: MODEL_LOAD naming the key", () => {
    const base = ggufBytes({ "general.architecture": { type: "string", value: "llama" } }, []);
    const cases: [Uint8Array, RegExp][] = [
      [patchValueType(base, 9, [9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), /an array of arrays|cannot fit in the file/],
      [patchValueType(base, 7, [2]), /a boolean holds 2/],
      [patchValueType(base, 13, []), /unknown value type 13/],
    ];
    for (const [bytes, message] of cases) {
      const error = (() => {
        try {
          GgufFile.open(file(bytes));
        } catch (e) {
          return e as Error & { code: string };
        }
        throw new Error("opened");
      })();
      expect(error.code).toBe("MODEL_LOAD");
      expect(error.message).toMatch(message);
      expect(error.message).toContain('metadata key "general.architecture"');
    }
  });
});

/** `base` (one metadata pair, no tensors) with its value's type replaced by `type` and its value by `value`. */
function patchValueType(base: Uint8Array, type: number, value: number[]): Uint8Array {
  const keyEnd = 24 + 8 + "general.architecture".length;
  const out = new Uint8Array(keyEnd + 4 + value.length);
  out.set(base.subarray(0, keyEnd));
  new DataView(out.buffer).setUint32(keyEnd, type, true);
  out.set(value, keyEnd + 4);
  return out;
}

/** Where the data section of a file made by the writer starts (past the header, metadata and tensor infos). */
function dataStart(bytes: Uint8Array): number {
  const f = GgufFile.open(file(bytes));
  const first = Math.min(...f.tensors.map((t) => t.offset));
  f.close();
  // the infos end before the data section; its tensors start at offset 0 of it
  return bytes.length - (f.tensors.reduce((n, t) => Math.max(n, t.offset + Math.ceil(t.bytes / 32) * 32), 0) - first);
}
