import { readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SafetensorsFile, ShardedSafetensors, openSafetensors, type LoadProgress } from "../../packages/tensor/src/safetensors.js";
import { SafetensorsError } from "../../packages/tensor/src/errors.js";
import { buildSafetensors, f32Bytes, tempDir, withHeader, writeTo, type Entry } from "./helpers.js";

const MODEL = join(import.meta.dirname, "../../models/kjv-llama");

/** Two small tensors: an F32 [2, 3] and a BF16 [4]. */
function sample(): Entry[] {
  return [
    { name: "a", dtype: "F32", shape: [2, 3], bytes: f32Bytes([1, 2, 3, 4, 5, 6]) },
    { name: "b", dtype: "BF16", shape: [4], bytes: new Uint8Array(Uint16Array.of(0x3f80, 0x4000, 0xbf80, 0x0000).buffer) },
  ];
}

/** Open `bytes` written to a temp file, expecting refusal; returns the error. */
async function refused(bytes: Uint8Array, name = "bad.safetensors"): Promise<SafetensorsError> {
  const path = writeTo(tempDir(), name, bytes);
  const err = await SafetensorsFile.open(path).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.code).toBe("MODEL_LOAD");
  expect(e.message).toContain(path);
  expect(e.file).toBe(path);
  return e;
}

describe("safetensors: the real model", () => {
  it("lists kjv-llama's tensors with names, shapes and dtypes", async () => {
    const progress: LoadProgress[] = [];
    const src = await openSafetensors(MODEL, { onProgress: (p) => progress.push(p) });
    expect(src.names).toHaveLength(56);
    expect(src.info("model.embed_tokens.weight")).toMatchObject({ dtype: "BF16", shape: [4096, 256] });
    expect(src.info("model.layers.0.self_attn.k_proj.weight")).toMatchObject({ dtype: "BF16", shape: [128, 256] });
    expect(src.info("model.layers.5.mlp.down_proj.weight")).toMatchObject({ dtype: "BF16", shape: [256, 768] });
    expect(src.info("model.norm.weight").shape).toEqual([256]);
    expect(src.has("lm_head.weight")).toBe(false);
    const norm = src.toFloat32("model.norm.weight");
    expect(norm).toBeInstanceOf(Float32Array);
    expect(norm.every(Number.isFinite)).toBe(true);
    const raw = src.tensor("model.norm.weight");
    expect(raw.data).toBeInstanceOf(Uint16Array);
    expect(norm[7]).toBe(new Float32Array(new Uint32Array([(raw.data as Uint16Array)[7] << 16]).buffer)[0]);
    // opening reads the header only; each tensor read counts its bytes against the data section's size
    const dataBytes = src.names.reduce((n, name) => n + src.info(name).byteLength, 0);
    for (const name of src.names) src.tensor(name);
    expect(progress.at(-1)).toEqual({ stage: "read", done: dataBytes + 2 * 512, total: dataBytes, unit: "bytes" });
    expect(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done)).toBe(true);
  });
});

describe("safetensors: reading generated files", () => {
  it("reads values, metadata, and views aligned data without copying", () => {
    const bytes = buildSafetensors(sample());
    const f = SafetensorsFile.fromBytes(bytes);
    expect(f.metadata).toEqual({ format: "pt" });
    expect(f.names).toEqual(["a", "b"]);
    const a = f.tensor("a");
    expect([...a.data as Float32Array]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.toFloat32("a").buffer).toBe(bytes.buffer);          // zero-copy view of the file bytes
    expect([...f.toFloat32("b")]).toEqual([1, 2, -1, 0]);
  });

  it("copies tensors whose offset is not aligned for their dtype", () => {
    const entries: Entry[] = [
      { name: "pad", dtype: "U8", shape: [2], bytes: Uint8Array.of(7, 9) },
      { name: "x", dtype: "F32", shape: [2], bytes: f32Bytes([1.5, -2.5]) },
    ];
    const f = SafetensorsFile.fromBytes(buildSafetensors(entries));
    expect([...f.toFloat32("x")]).toEqual([1.5, -2.5]);
    expect([...f.tensor("pad").data as Uint8Array]).toEqual([7, 9]);
  });

  it("reads each tensor from disk into its own aligned buffer, in any header order", async () => {
    const entries: Entry[] = [
      { name: "pad", dtype: "U8", shape: [3], bytes: Uint8Array.of(7, 8, 9) },
      { name: "x", dtype: "F32", shape: [2], bytes: f32Bytes([1.5, -2.5]) },
      { name: "y", dtype: "F64", shape: [1], bytes: new Uint8Array(Float64Array.of(0.25).buffer) },
    ];
    const path = writeTo(tempDir(), "parts.safetensors", buildSafetensors(entries, (h) => {
      const { pad, ...rest } = h;                           // header order differs from offset order
      for (const k of Object.keys(h)) delete h[k];
      Object.assign(h, rest, { pad });
    }));
    const progress: LoadProgress[] = [];
    const f = await SafetensorsFile.open(path, { onProgress: (p) => progress.push(p) });
    expect(f.names).toEqual(["x", "y", "pad"]);
    const x = f.toFloat32("x");                             // offset 3 in the file, still a view: its own buffer
    expect([...x]).toEqual([1.5, -2.5]);
    expect(x.byteOffset).toBe(0);
    expect(x.buffer.byteLength).toBe(8);
    expect(f.tensor("y").data).toEqual(Float64Array.of(0.25));
    expect(f.tensor("pad").data.buffer).not.toBe(x.buffer);
    expect(progress.at(-1)).toEqual({ stage: "read", done: 3 + 8 + 8, total: 3 + 8 + 8, unit: "bytes" });
    expect(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done)).toBe(true);
  });

  it("accepts zero-sized tensors and scalars", () => {
    const f = SafetensorsFile.fromBytes(buildSafetensors([
      { name: "empty", dtype: "F32", shape: [0, 4], bytes: new Uint8Array(0) },
      { name: "scalar", dtype: "F32", shape: [], bytes: f32Bytes([3]) },
    ]));
    expect(f.toFloat32("empty").length).toBe(0);
    expect([...f.toFloat32("scalar")]).toEqual([3]);
  });
});

describe("safetensors: refusing broken files", () => {
  it("a file shorter than the header length", async () => {
    expect((await refused(Uint8Array.of(1, 2, 3))).fault).toBe("TRUNCATED");
  });

  it("a header length beyond the file", async () => {
    const bytes = buildSafetensors(sample());
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    expect((await refused(bytes)).fault).toBe("HEADER_BOUNDS");
    new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    expect((await refused(bytes)).fault).toBe("HEADER_BOUNDS");
  });

  it("a header that is not JSON", async () => {
    expect((await refused(withHeader('{"a": {"dtype": "F32",', new Uint8Array(8)))).fault).toBe("BAD_JSON");
  });

  it("a truncated data section", async () => {
    const bytes = buildSafetensors(sample());
    const path = writeTo(tempDir(), "cut.safetensors", bytes);
    truncateSync(path, bytes.length - 3);
    const err = await SafetensorsFile.open(path).catch((e: SafetensorsError) => e);
    expect(err).toMatchObject({ code: "MODEL_LOAD", fault: "OUT_OF_BOUNDS", tensor: "b", file: path });
    expect((err as Error).message).toContain('"b"');
  });

  it("offsets outside the data section", async () => {
    const e = await refused(buildSafetensors(sample(), (h) => {
      (h.b as { data_offsets: number[] }).data_offsets = [24, 24 + 8 + 16];
      (h.b as { shape: number[] }).shape = [12];
    }));
    expect(e.fault).toBe("OUT_OF_BOUNDS");
    expect(e.tensor).toBe("b");
  });

  it("overlapping tensors", async () => {
    const e = await refused(buildSafetensors(sample(), (h) => {
      (h.b as { data_offsets: number[] }).data_offsets = [20, 28];
    }));
    expect(e.fault).toBe("OVERLAP");
    expect(e.message).toMatch(/"a"|"b"/);
  });

  it("a hole between tensors, and one before the first", async () => {
    // a: [0, 24) F32, then 4 unclaimed bytes, then b (BF16 [4]) at [28, 36)
    const [a, b] = sample();
    const gap = buildSafetensors([a, { ...b, name: "pad", dtype: "U8", shape: [4], bytes: new Uint8Array(4) }, b], (h) => {
      delete h.pad;
    });
    const e = await refused(gap);
    expect(e.fault).toBe("HOLE");
    expect(e.tensor).toBe("b");
    expect(e.message).toContain("[24, 28)");
    // only b, placed at [4, 12) of a 12-byte data section
    const lead = await refused(withHeader(JSON.stringify({ b: { dtype: "BF16", shape: [4], data_offsets: [4, 12] } }), new Uint8Array(12)));
    expect(lead).toMatchObject({ fault: "HOLE", tensor: "b" });
  });

  it("trailing bytes after the last tensor", async () => {
    const e = await refused(buildSafetensors([...sample(), { name: "extra", dtype: "U8", shape: [3], bytes: Uint8Array.of(1, 2, 3) }], (h) => {
      delete h.extra;
    }));
    expect(e.fault).toBe("TRAILING_BYTES");
    expect(e.message).toContain("3 trailing bytes");
    // a header with no tensors over a non-empty data section
    expect((await refused(withHeader("{}", new Uint8Array(8)))).fault).toBe("TRAILING_BYTES");
  });

  it("__metadata__ that is not an object of strings", async () => {
    for (const metadata of [["pt"], "pt", null, { format: "pt", step: 7 }, { nested: { a: "b" } }]) {
      const e = await refused(buildSafetensors(sample(), (h) => { h.__metadata__ = metadata; }));
      expect(e.fault).toBe("BAD_HEADER");
      expect(e.message).toContain("__metadata__");
    }
  });

  it("shape × dtype size different from the byte length", async () => {
    const e = await refused(buildSafetensors(sample(), (h) => {
      (h.a as { shape: number[] }).shape = [3, 3];
    }));
    expect(e.fault).toBe("SIZE_MISMATCH");
    expect(e.tensor).toBe("a");
    expect(e.message).toContain('"a"');
  });

  it("an unknown dtype", async () => {
    const e = await refused(buildSafetensors(sample(), (h) => {
      (h.b as { dtype: string }).dtype = "Q4_K";
    }));
    expect(e.fault).toBe("UNKNOWN_DTYPE");
    expect(e.tensor).toBe("b");
    expect(e.message).toContain("Q4_K");
  });

  it("malformed entries", async () => {
    for (const patch of [
      (h: Record<string, unknown>) => { h.a = 5; },
      (h: Record<string, unknown>) => { (h.a as { shape: unknown }).shape = [2, -3]; },
      (h: Record<string, unknown>) => { (h.a as { data_offsets: unknown }).data_offsets = [24, 0]; },
      (h: Record<string, unknown>) => { (h.a as { data_offsets: unknown }).data_offsets = "0-24"; },
    ]) {
      const e = await refused(buildSafetensors(sample(), patch));
      expect(e.fault).toBe("BAD_HEADER");
      expect(e.tensor).toBe("a");
    }
    expect((await refused(withHeader("[1, 2]", new Uint8Array(0)))).fault).toBe("BAD_HEADER");
  });

  it("names the file when it does not exist, and a missing tensor by name", async () => {
    await expect(openSafetensors(join(tempDir(), "nope"))).rejects.toMatchObject({ code: "MODEL_LOAD", fault: "IO" });
    const dir = tempDir();                                   // opens, but reading fails (EISDIR)
    writeTo(dir, "entry", "x");                              // some filesystems give an empty directory size 0
    await expect(SafetensorsFile.open(dir)).rejects.toMatchObject({ name: "SafetensorsError", code: "MODEL_LOAD", fault: "IO", file: dir });
    const f = SafetensorsFile.fromBytes(buildSafetensors(sample()), "mem.safetensors");
    expect(() => f.info("zzz")).toThrow(SafetensorsError);
    expect(() => f.info("zzz")).toThrow(/mem\.safetensors.*"zzz"/);
  });
});

describe("safetensors: sharded checkpoints", () => {
  /** Split sample() into two shards plus an index in a temp dir. */
  function shardedDir(mutateMap?: (m: Record<string, string>) => void): string {
    const dir = tempDir();
    const [a, b] = sample();
    writeTo(dir, "model-00001-of-00002.safetensors", buildSafetensors([a]));
    writeTo(dir, "model-00002-of-00002.safetensors", buildSafetensors([b]));
    const weightMap: Record<string, string> = { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" };
    mutateMap?.(weightMap);
    writeTo(dir, "model.safetensors.index.json", JSON.stringify({ metadata: { total_size: 32 }, weight_map: weightMap }));
    return dir;
  }

  it("reads tensors from both shards through the directory", async () => {
    const progress: LoadProgress[] = [];
    const src = await openSafetensors(shardedDir(), { onProgress: (p) => progress.push(p) });
    expect(src).toBeInstanceOf(ShardedSafetensors);
    expect([...src.names].sort()).toEqual(["a", "b"]);
    expect([...src.toFloat32("a")]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...src.toFloat32("b")]).toEqual([1, 2, -1, 0]);
    expect(src.info("b").file).toContain("00002");
    const last = progress.at(-1)!;
    expect(last.done).toBe(last.total);
    expect(new Set(progress.map((p) => p.total)).size).toBe(1);
  });

  it("refuses an index pointing at a missing file", async () => {
    const dir = shardedDir((m) => { m.b = "model-00003-of-00002.safetensors"; });
    const err = await openSafetensors(dir).catch((e: SafetensorsError) => e);
    expect(err).toMatchObject({ code: "MODEL_LOAD", fault: "MISSING_SHARD", tensor: "b" });
    expect((err as Error).message).toContain("model-00003-of-00002.safetensors");
  });

  it("refuses a tensor missing from its shard", async () => {
    const dir = shardedDir((m) => { m.c = "model-00001-of-00002.safetensors"; });
    const err = await openSafetensors(dir).catch((e: SafetensorsError) => e);
    expect(err).toMatchObject({ code: "MODEL_LOAD", fault: "MISSING_TENSOR", tensor: "c" });
    expect((err as Error).message).toContain("model-00001-of-00002.safetensors");
  });

  it("refuses a bad index and a shard path leaving the directory", async () => {
    const dir = shardedDir();
    writeTo(dir, "model.safetensors.index.json", "{ not json");
    await expect(openSafetensors(dir)).rejects.toMatchObject({ code: "MODEL_LOAD", fault: "BAD_JSON" });
    const dir2 = shardedDir((m) => { m.b = "../elsewhere.safetensors"; });
    await expect(openSafetensors(dir2)).rejects.toMatchObject({ code: "MODEL_LOAD", fault: "BAD_HEADER", tensor: "b" });
  });

  it("refuses a broken shard with the shard's name", async () => {
    const dir = shardedDir();
    writeTo(dir, "model-00002-of-00002.safetensors", Uint8Array.of(1, 2));
    const err = await openSafetensors(dir).catch((e: SafetensorsError) => e);
    expect(err).toMatchObject({ code: "MODEL_LOAD", fault: "TRUNCATED" });
    expect((err as Error).message).toContain("model-00002-of-00002.safetensors");
  });
});
