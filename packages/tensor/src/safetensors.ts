/**
 * Safetensors reading: one file, or shards behind `model.safetensors.index.json`.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`, then the data section;
 * offsets are relative to the data section. Every header is validated before any tensor is handed out: as
 * in the reference implementation, the tensors sorted by offset must tile the data section exactly (from
 * byte 0, no holes, no overlaps, ending at its last byte). Opening reads and checks the headers only; a
 * tensor's bytes are read when it is asked for, into a buffer of its own (aligned for any dtype, so views
 * are zero-copy), and are the caller's to keep or drop: loading a model never holds the whole checkpoint.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { open, readFile, stat, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { DTYPE_SIZE, isDType, rawView, toFloat32Into, type DType, type RawArray } from "./dtype.js";
import { SafetensorsError } from "./errors.js";
import type { Tensor } from "./tensor.js";

/** Where one tensor lives. `byteOffset` is relative to its file's data section. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly file: string;
}

/** A load progress report; maps one-to-one onto the runtime's `{ stage, done, total, unit }` events. */
export interface LoadProgress {
  readonly stage: "read" | "convert";
  readonly done: number;
  readonly total: number;
  readonly unit: "bytes" | "tensors";
}

/** Receives load progress reports. */
export type ProgressCallback = (progress: LoadProgress) => void;

/** Options for opening safetensors files. */
export interface OpenOptions {
  /** Called as bytes are read (stage "read", unit "bytes"). */
  readonly onProgress?: ProgressCallback;
}

/** Read access to a set of named tensors, whatever files they came from. */
export interface TensorSource {
  /** Every tensor name, in header order. */
  readonly names: readonly string[];
  /** True when a tensor of that name exists. */
  has(name: string): boolean;
  /** Dtype, shape and location of a tensor; throws MISSING_TENSOR when absent. */
  info(name: string): TensorInfo;
  /** The raw tensor, read now into its own buffer (each call reads again). */
  tensor(name: string): Tensor;
  /** The tensor as float32, read now (each call reads again). */
  toFloat32(name: string): Float32Array;
  /** Closes the files (later reads fail with IO). Idempotent. */
  close(): void;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const READ_CHUNK_BYTES = 16 * 1024 * 1024;

/** Validate a parsed header against a data section of `dataSize` bytes; returns the tensors in header order. */
export function validateHeader(header: unknown, file: string, dataSize: number): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  if (!isObject(header)) throw new SafetensorsError("BAD_HEADER", file, "header is not a JSON object");
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") metadata = validateMetadata(entry, file);
    else tensors.push(validateEntry(name, entry, file, dataSize));
  }
  checkTiling(tensors, file, dataSize);
  return { tensors, metadata };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `__metadata__` must be an object whose values are all strings (the reference's `HashMap<String, String>`). */
function validateMetadata(entry: unknown, file: string): Record<string, string> {
  if (!isObject(entry)) throw new SafetensorsError("BAD_HEADER", file, `__metadata__ must be an object of strings, got ${JSON.stringify(entry)}`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== "string") {
      throw new SafetensorsError("BAD_HEADER", file, `__metadata__ value of ${JSON.stringify(key)} must be a string, got ${JSON.stringify(value)}`);
    }
  }
  return { ...(entry as Record<string, string>) };
}

function validateEntry(name: string, entry: unknown, file: string, dataSize: number): TensorInfo {
  const bad = (fault: "BAD_HEADER" | "UNKNOWN_DTYPE" | "OUT_OF_BOUNDS" | "SIZE_MISMATCH", msg: string) =>
    new SafetensorsError(fault, file, msg, name);
  if (!isObject(entry)) throw bad("BAD_HEADER", "entry is not an object");
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isDType(dtype)) throw bad("UNKNOWN_DTYPE", `unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad("BAD_HEADER", `bad shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw bad("BAD_HEADER", `bad data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const expected = elements * DTYPE_SIZE[dtype];
  if (expected !== end - begin) {
    throw bad("SIZE_MISMATCH", `shape [${shape.join(", ")}] × ${dtype} needs ${expected} bytes, data_offsets span ${end - begin}`);
  }
  if (end > dataSize) {
    throw bad("OUT_OF_BOUNDS", `data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes): truncated file or lying header`);
  }
  return { name, dtype, shape: shape as number[], byteOffset: begin, byteLength: end - begin, file };
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Tensors in offset order (zero-sized ones before a sized one at the same offset). */
function byOffset(tensors: readonly TensorInfo[]): TensorInfo[] {
  return [...tensors].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
}

/** Sorted by offset, the tensors must start at byte 0, follow each other with no hole or overlap, and end at `dataSize`. */
function checkTiling(tensors: readonly TensorInfo[], file: string, dataSize: number): void {
  let at = 0;
  let prev: TensorInfo | undefined;
  for (const t of byOffset(tensors)) {
    if (t.byteOffset < at) {
      throw new SafetensorsError("OVERLAP", file, `bytes overlap those of tensor "${prev!.name}"`, t.name);
    }
    if (t.byteOffset > at) {
      const after = prev ? `after tensor "${prev.name}"` : "at the start of the data section";
      throw new SafetensorsError("HOLE", file, `bytes [${at}, ${t.byteOffset}) ${after} belong to no tensor`, t.name);
    }
    at = t.byteOffset + t.byteLength;
    prev = t;
  }
  if (at !== dataSize) {
    throw new SafetensorsError("TRAILING_BYTES", file, `the data section holds ${dataSize} bytes but its tensors end at ${at}: ${dataSize - at} trailing bytes`);
  }
}

/** Reads one tensor's bytes into a fresh buffer. */
type TensorReader = (t: TensorInfo) => Uint8Array;

/** What opening one file yields: validated tensor infos, metadata, and how to read a tensor's bytes. */
interface FileParts {
  readonly path: string;
  readonly tensors: TensorInfo[];
  readonly metadata: Record<string, string>;
  readonly read: TensorReader;
  readonly close: () => void;
}

/** Lookup and conversion over validated tensors, each read on demand. */
class TensorTable implements TensorSource {
  readonly names: readonly string[];
  private readonly byName: Map<string, TensorInfo>;

  protected constructor(
    infos: readonly TensorInfo[],
    private readonly describe: string,
    private readonly reader: TensorReader,
    private readonly closer: () => void,
  ) {
    this.names = infos.map((t) => t.name);
    this.byName = new Map(infos.map((t) => [t.name, t]));
  }

  /** True when a tensor of that name exists. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Dtype, shape and location of a tensor; throws MISSING_TENSOR when absent. */
  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("MISSING_TENSOR", this.describe, "no such tensor", name);
    return t;
  }

  /** The raw tensor, read now into its own buffer. */
  tensor(name: string): Tensor {
    const t = this.info(name);
    return { dtype: t.dtype, shape: t.shape, data: this.raw(t) };
  }

  /** The tensor as float32, read now. */
  toFloat32(name: string): Float32Array {
    const t = this.info(name);
    const raw = this.raw(t);
    if (t.dtype === "F32") return raw as Float32Array;
    const out = new Float32Array(t.byteLength / DTYPE_SIZE[t.dtype]);
    try {
      toFloat32Into(t.dtype, raw, out);
    } catch (e) {
      throw new SafetensorsError("UNKNOWN_DTYPE", t.file, (e as Error).message, name, { cause: e });
    }
    return out;
  }

  /** Closes the files. */
  close(): void {
    this.closer();
  }

  private raw(t: TensorInfo): RawArray {
    const bytes = this.reader(t);
    if (bytes.byteOffset % DTYPE_SIZE[t.dtype] === 0) return rawView(t.dtype, bytes.buffer, bytes.byteOffset, t.byteLength);
    return rawView(t.dtype, bytes.slice().buffer, 0, t.byteLength);   // unaligned (only in fromBytes input): copy
  }
}

/** One safetensors file, its header validated; tensors are read when asked for. */
export class SafetensorsFile extends TensorTable {
  /** Free-form `__metadata__` strings from the header. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly path: string;

  private constructor(parts: FileParts) {
    super(parts.tensors, parts.path, parts.read, parts.close);
    this.path = parts.path;
    this.metadata = parts.metadata;
  }

  /** Parse and validate a whole file already in memory (`path` is used only in messages); tensors are views of `bytes`. */
  static fromBytes(bytes: Uint8Array, path = "<memory>"): SafetensorsFile {
    const headerLength = headerLengthOf(bytes.subarray(0, 8), bytes.length, path);
    const header = parseHeaderJson(bytes.subarray(8, 8 + headerLength), path);
    const data = bytes.subarray(8 + headerLength);
    const { tensors, metadata } = validateHeader(header, path, data.length);
    const read = (t: TensorInfo) => data.subarray(t.byteOffset, t.byteOffset + t.byteLength);
    return new SafetensorsFile({ path, tensors, metadata, read, close: () => undefined });
  }

  /** Open a file from disk and validate its header; tensor reads report their bytes as progress. */
  static async open(path: string, options: OpenOptions = {}): Promise<SafetensorsFile> {
    return new SafetensorsFile(await openParts(path, progressCounter(options.onProgress, undefined)));
  }
}

/** Counts bytes read across files and reports them (total: the files' sizes, once known). */
interface ProgressCounter {
  total: number;
  done: number;
  readonly report: ((p: LoadProgress) => void) | undefined;
}

function progressCounter(report: ProgressCallback | undefined, total: number | undefined): ProgressCounter {
  return { total: total ?? 0, done: 0, report };
}

function headerLengthOf(first8: Uint8Array, fileSize: number, path: string): number {
  if (fileSize < 8 || first8.length < 8) throw new SafetensorsError("TRUNCATED", path, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) throw new SafetensorsError("HEADER_BOUNDS", path, `header length ${n} runs past the end of the ${fileSize}-byte file`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError("HEADER_BOUNDS", path, `header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  return Number(n);
}

function parseHeaderJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new SafetensorsError("BAD_JSON", path, `header is not valid UTF-8 JSON: ${(e as Error).message}`, undefined, { cause: e });
  }
}

/**
 * Open one file and validate its header; the file stays open for tensor reads until `close`. Every I/O failure
 * is an IO SafetensorsError naming the file. `progress.total` grows by the size of its data section.
 */
async function openParts(path: string, progress: ProgressCounter): Promise<FileParts> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new SafetensorsError("IO", path, `cannot open: ${(e as Error).message}`, undefined, { cause: e });
  }
  let header: { size: number; dataStart: number; tensors: TensorInfo[]; metadata: Record<string, string> };
  try {
    header = await readHeader(fh, path);
  } finally {
    await fh.close().catch(() => undefined);
  }
  progress.total += header.size - header.dataStart;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError("IO", path, `cannot open: ${(e as Error).message}`, undefined, { cause: e });
  }
  const read = (t: TensorInfo): Uint8Array => {
    if (fd === undefined) throw new SafetensorsError("IO", path, "file is closed", t.name);
    const into = allocate(t, path);                      // its own ArrayBuffer: offset 0 suits every dtype
    readFullySync(fd, into, header.dataStart + t.byteOffset, path, (n) => {
      progress.done += n;
      progress.report?.({ stage: "read", done: progress.done, total: progress.total, unit: "bytes" });
    });
    return into;
  };
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return { path, tensors: header.tensors, metadata: header.metadata, read, close };
}

/** The header of an open file: its size, where the data section starts, and the validated tensors. */
async function readHeader(fh: FileHandle, path: string): Promise<{ size: number; dataStart: number; tensors: TensorInfo[]; metadata: Record<string, string> }> {
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    throw new SafetensorsError("IO", path, `cannot stat: ${(e as Error).message}`, undefined, { cause: e });
  }
  const first8 = new Uint8Array(Math.min(8, size));
  await readFully(fh, first8, 0, path);
  const headerLength = headerLengthOf(first8, size, path);
  const headerBytes = new Uint8Array(headerLength);
  await readFully(fh, headerBytes, 8, path);
  const dataStart = 8 + headerLength;
  const { tensors, metadata } = validateHeader(parseHeaderJson(headerBytes, path), path, size - dataStart);
  return { size, dataStart, tensors, metadata };
}

/** A fresh buffer for one tensor; a size the engine refuses is an IO SafetensorsError naming the tensor. */
function allocate(t: TensorInfo, path: string): Uint8Array {
  try {
    return new Uint8Array(t.byteLength);
  } catch (e) {
    throw new SafetensorsError("IO", path, `cannot allocate ${t.byteLength} bytes for the tensor: ${(e as Error).message}`, t.name, { cause: e });
  }
}

/** Positioned synchronous reads until `into` is full; reports each chunk's byte count. */
function readFullySync(fd: number, into: Uint8Array, position: number, path: string, onBytes: (n: number) => void): void {
  let done = 0;
  while (done < into.length) {
    const want = Math.min(READ_CHUNK_BYTES, into.length - done);
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, into, done, want, position + done);
    } catch (e) {
      throw new SafetensorsError("IO", path, `cannot read ${want} bytes at offset ${position + done}: ${(e as Error).message}`, undefined, { cause: e });
    }
    if (bytesRead === 0) throw new SafetensorsError("TRUNCATED", path, `file ended after ${position + done} bytes while reading`);
    done += bytesRead;
    onBytes(bytesRead);
  }
}

async function readFully(fh: FileHandle, into: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const want = Math.min(READ_CHUNK_BYTES, into.length - done);
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(into, done, want, position + done));
    } catch (e) {
      throw new SafetensorsError("IO", path, `cannot read ${want} bytes at offset ${position + done}: ${(e as Error).message}`, undefined, { cause: e });
    }
    if (bytesRead === 0) throw new SafetensorsError("TRUNCATED", path, `file ended after ${position + done} bytes while reading`);
    done += bytesRead;
  }
}

/** Tensors spread over shards named by a `model.safetensors.index.json` weight map. */
export class ShardedSafetensors extends TensorTable {
  private constructor(readonly indexPath: string, infos: TensorInfo[], read: TensorReader, close: () => void) {
    super(infos, indexPath, read, close);
  }

  /** Read an index and the header of every shard it names; checks each mapped tensor is in its shard. */
  static async open(indexPath: string, options: OpenOptions = {}): Promise<ShardedSafetensors> {
    const weightMap = await readWeightMap(indexPath);
    const dir = dirname(resolve(indexPath));
    const firstTensorIn = (f: string) => Object.keys(weightMap).find((k) => weightMap[k] === f);
    const files = [...new Set(Object.values(weightMap))].map((f) => ({ name: f, path: shardPath(dir, f, indexPath, firstTensorIn(f)) }));
    for (const f of files) {
      try {
        await stat(f.path);
      } catch {
        throw new SafetensorsError("MISSING_SHARD", f.path, `shard named by ${indexPath} does not exist`, firstTensorIn(f.name));
      }
    }
    const progress = progressCounter(options.onProgress, undefined);
    const shards = new Map<string, FileParts>();
    const closeAll = () => {
      for (const shard of shards.values()) shard.close();
    };
    try {
      for (const f of files) shards.set(f.name, await openParts(f.path, progress));
      const infos: TensorInfo[] = [];
      const readers = new Map<TensorInfo, TensorReader>();
      for (const [name, f] of Object.entries(weightMap)) {
        const shard = shards.get(f)!;
        const info = shard.tensors.find((t) => t.name === name);
        if (!info) throw new SafetensorsError("MISSING_TENSOR", shard.path, `index ${indexPath} maps the tensor to this shard but the shard lacks it`, name);
        infos.push(info);
        readers.set(info, shard.read);
      }
      return new ShardedSafetensors(indexPath, infos, (t) => readers.get(t)!(t), closeAll);
    } catch (e) {
      closeAll();
      throw e;
    }
  }
}

async function readWeightMap(indexPath: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(indexPath, "utf8");
  } catch (e) {
    throw new SafetensorsError("IO", indexPath, `cannot read index: ${(e as Error).message}`, undefined, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError("BAD_JSON", indexPath, `index is not valid JSON: ${(e as Error).message}`, undefined, { cause: e });
  }
  const map = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) throw new SafetensorsError("BAD_HEADER", indexPath, "index has no weight_map object");
  for (const [name, f] of Object.entries(map)) {
    if (typeof f !== "string") throw new SafetensorsError("BAD_HEADER", indexPath, "weight_map value is not a file name", name);
  }
  return map as Record<string, string>;
}

function shardPath(dir: string, file: string, indexPath: string, tensor: string | undefined): string {
  const full = resolve(dir, file);
  if (!full.startsWith(dir + sep)) {
    throw new SafetensorsError("BAD_HEADER", indexPath, `shard path ${JSON.stringify(file)} leaves the model directory`, tensor);
  }
  return full;
}

/** Open `path`: a `.safetensors` file, an index `.json`, or a directory holding either (index preferred). */
export async function openSafetensors(path: string, options: OpenOptions = {}): Promise<TensorSource> {
  let isDir = false;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new SafetensorsError("IO", path, `cannot stat: ${(e as Error).message}`, undefined, { cause: e });
  }
  if (!isDir) return path.endsWith(".json") ? ShardedSafetensors.open(path, options) : SafetensorsFile.open(path, options);
  const index = join(path, "model.safetensors.index.json");
  const exists = await stat(index).then(() => true, () => false);
  return exists ? ShardedSafetensors.open(index, options) : SafetensorsFile.open(join(path, "model.safetensors"), options);
}
