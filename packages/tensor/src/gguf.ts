/**
 * GGUF reading (versions 2 and 3; little-endian): the header, the metadata key/value pairs, the tensor infos, and
 * the tensors, each read a range at a time like safetensors ones (never the whole file in memory).
 *
 * File layout: "GGUF", u32 version, u64 tensor count, u64 metadata count; each metadata pair is a string key, a u32
 * value type and the value (strings are a u64 byte length and UTF-8 bytes; arrays a u32 element type, a u64 count
 * and the elements); each tensor info is a string name, u32 dimension count, u64 dimensions (ggml order: the
 * innermost, contiguous one first), u32 ggml type, u64 offset from the data section, which starts at the first
 * multiple of `general.alignment` (default 32) after the infos. Everything is validated when the file is opened:
 * a truncated header, an unknown value type, a tensor of a type this package does not read, a dimension the type's
 * blocks do not divide, an offset that is not aligned, or data that runs past the end of the file or overlaps
 * another tensor's is a {@link GgufError} (code MODEL_LOAD) naming the key or tensor.
 *
 * As a {@link TensorSource} a GGUF file shows each tensor under its own name with its shape in row-major order
 * (the dimensions reversed: [rows, columns] for a matrix) and a float dtype: F32, F16 and BF16 tensors as they are,
 * quantized ones as F32 — their blocks are dequantized as they are read (see `ggml-types.ts`).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { DTYPE_SIZE, rawView, toFloat32Into, type DType } from "./dtype.js";
import { dequantize, ggmlBytes, ggmlTypeById, ggmlTypeName, type GgmlType } from "./ggml-types.js";
import type { ProgressCallback, TensorInfo, TensorSource } from "./safetensors.js";
import type { Tensor } from "./tensor.js";

/** Why a GGUF file was refused. */
export type GgufFault =
  | "BAD_MAGIC"        // the file does not start with "GGUF"
  | "BAD_VERSION"      // a version other than 2 or 3
  | "TRUNCATED"        // the header, the metadata or the tensor infos run past the end of the file
  | "BAD_METADATA"     // a value type, string or array this reader cannot make sense of; a duplicate key
  | "BAD_TENSOR"       // a tensor info whose type, shape, offset or size does not fit the file
  | "UNKNOWN_TYPE"     // a tensor type this package does not read
  | "MISSING_TENSOR"   // no tensor of that name
  | "IO";              // the file could not be read

/** A refused or unreadable GGUF file; `code` is always MODEL_LOAD so the runtime forwards it as is. */
export class GgufError extends Error {
  /** Error catalogue code shared with the runtime. */
  readonly code = "MODEL_LOAD" as const;
  override readonly name = "GgufError";

  /** Build an error naming the file and the metadata key or tensor at fault, when one is. */
  constructor(readonly fault: GgufFault, readonly file: string, message: string, readonly at?: string, options?: { cause?: unknown }) {
    super(`${file}${at !== undefined ? ` (${at})` : ""}: ${message}`, options);
  }
}

/** A metadata value: numbers (u64 / i64 as numbers, refused past 2^53), booleans, strings, or arrays of them. */
export type GgufValue = number | boolean | string | readonly GgufValue[];

/** One tensor of a GGUF file, as its tensor info says. */
export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: the contiguous dimension first. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** Offset from the start of the data section. */
  readonly offset: number;
  readonly bytes: number;
}

const MAGIC = 0x46554747;                       // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const WINDOW_BYTES = 1 << 20;
const MAX_STRING_BYTES = 1 << 30;
const MAX_DIMS = 4;

/** Reads a file forwards through a window, refusing (TRUNCATED) any read past its end. */
class Cursor {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private start = 0;                              // file offset of buf[0]
  pos = 0;
  /** What is being read, for messages. */
  what = "header";

  constructor(private readonly fd: number, readonly size: number, private readonly path: string) {}

  private need(n: number): number {
    if (this.pos + n > this.size) {
      throw new GgufError("TRUNCATED", this.path, `the file ends at byte ${this.size}, but ${n} more bytes are needed at ${this.pos}`, this.what);
    }
    const at = this.pos - this.start;
    if (at + n <= this.buf.length) return at;
    const length = Math.min(this.size - this.pos, Math.max(WINDOW_BYTES, n));
    this.buf = new Uint8Array(length);
    readAll(this.fd, this.buf, this.pos, this.path);
    this.view = new DataView(this.buf.buffer);
    this.start = this.pos;
    return 0;
  }

  u8(): number { const at = this.need(1); this.pos += 1; return this.buf[at]; }
  i8(): number { const at = this.need(1); this.pos += 1; return this.view.getInt8(at); }
  u16(): number { const at = this.need(2); this.pos += 2; return this.view.getUint16(at, true); }
  i16(): number { const at = this.need(2); this.pos += 2; return this.view.getInt16(at, true); }
  u32(): number { const at = this.need(4); this.pos += 4; return this.view.getUint32(at, true); }
  i32(): number { const at = this.need(4); this.pos += 4; return this.view.getInt32(at, true); }
  f32(): number { const at = this.need(4); this.pos += 4; return this.view.getFloat32(at, true); }
  f64(): number { const at = this.need(8); this.pos += 8; return this.view.getFloat64(at, true); }
  u64(): number { const at = this.need(8); this.pos += 8; return this.safe(this.view.getBigUint64(at, true)); }
  i64(): number { const at = this.need(8); this.pos += 8; return this.safe(this.view.getBigInt64(at, true)); }

  string(): string {
    const n = this.u64();
    if (n > MAX_STRING_BYTES) throw new GgufError("BAD_METADATA", this.path, `a string of ${n} bytes at byte ${this.pos - 8}`, this.what);
    const at = this.need(n);
    this.pos += n;
    try {
      return UTF8.decode(this.buf.subarray(at, at + n));
    } catch (cause) {
      throw new GgufError("BAD_METADATA", this.path, `a string at byte ${this.pos - n} is not valid UTF-8`, this.what, { cause });
    }
  }

  private safe(v: bigint): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new GgufError("BAD_METADATA", this.path, `the 64-bit integer ${v} at byte ${this.pos - 8} is out of range`, this.what);
    }
    return Number(v);
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** One value of metadata type `type`. */
function readValue(c: Cursor, type: number, path: string, depth = 0): GgufValue {
  switch (type) {
    case 0: return c.u8();
    case 1: return c.i8();
    case 2: return c.u16();
    case 3: return c.i16();
    case 4: return c.u32();
    case 5: return c.i32();
    case 6: return c.f32();
    case 7: {
      const b = c.u8();
      if (b > 1) throw new GgufError("BAD_METADATA", path, `a boolean holds ${b}`, c.what);
      return b === 1;
    }
    case 8: return c.string();
    case 9: {
      if (depth > 0) throw new GgufError("BAD_METADATA", path, "an array of arrays", c.what);
      const elementType = c.u32();
      const n = c.u64();
      // every element takes at least a byte: a count past the file's end is a lie, refused before allocating
      if (n > c.size - c.pos) throw new GgufError("TRUNCATED", path, `an array of ${n} elements cannot fit in the file`, c.what);
      const out: GgufValue[] = new Array<GgufValue>(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, elementType, path, depth + 1);
      return out;
    }
    case 10: return c.u64();
    case 11: return c.i64();
    case 12: return c.f64();
    default: throw new GgufError("BAD_METADATA", path, `unknown value type ${type}`, c.what);
  }
}

/** Positioned synchronous reads until `into` is full (IO or TRUNCATED naming the file). */
function readAll(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    let n: number;
    try {
      n = readSync(fd, into, done, into.length - done, position + done);
    } catch (cause) {
      throw new GgufError("IO", path, `cannot read at byte ${position + done}: ${(cause as Error).message}`, undefined, { cause });
    }
    if (n === 0) throw new GgufError("TRUNCATED", path, `the file ended at byte ${position + done} while reading`);
    done += n;
  }
}

/** The parsed header of a GGUF file. */
interface Header {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly dataStart: number;
  readonly size: number;
}

function parseHeader(fd: number, path: string): Header {
  let size: number;
  try {
    size = fstatSync(fd).size;
  } catch (cause) {
    throw new GgufError("IO", path, `cannot stat: ${(cause as Error).message}`, undefined, { cause });
  }
  const c = new Cursor(fd, size, path);
  if (size < 4 || c.u32() !== MAGIC) throw new GgufError("BAD_MAGIC", path, "not a GGUF file (it does not start with \"GGUF\")");
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    throw new GgufError("BAD_VERSION", path, `GGUF version ${version} is not supported (versions 2 and 3 are)`);
  }
  const tensorCount = c.u64(), kvCount = c.u64();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    c.what = `metadata pair ${i}`;
    const key = c.string();
    c.what = `metadata key "${key}"`;
    const value = readValue(c, c.u32(), path);
    if (metadata.has(key)) throw new GgufError("BAD_METADATA", path, "the key appears twice", c.what);
    metadata.set(key, value);
  }
  const alignment = metadata.get("general.alignment") ?? DEFAULT_ALIGNMENT;
  if (typeof alignment !== "number" || !Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new GgufError("BAD_METADATA", path, `must be a positive multiple of 8, got ${JSON.stringify(alignment)}`, "metadata key \"general.alignment\"");
  }
  if (tensorCount > size) throw new GgufError("TRUNCATED", path, `${tensorCount} tensor infos cannot fit in the file`, "tensor infos");
  const raw: { name: string; dims: number[]; typeId: number; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    c.what = `tensor info ${i}`;
    const name = c.string();
    c.what = `tensor "${name}"`;
    const n = c.u32();
    if (n < 1 || n > MAX_DIMS) throw new GgufError("BAD_TENSOR", path, `has ${n} dimensions (1 to ${MAX_DIMS} are allowed)`, c.what);
    const dims = Array.from({ length: n }, () => c.u64());
    raw.push({ name, dims, typeId: c.u32(), offset: c.u64() });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  const tensors = raw.map((t) => checkTensor(t, alignment, size - dataStart, path));
  checkOverlaps(tensors, path);
  return { version, metadata, tensors, dataStart, size };
}

function checkTensor(t: { name: string; dims: number[]; typeId: number; offset: number }, alignment: number, dataBytes: number, path: string): GgufTensorInfo {
  const at = `tensor "${t.name}"`;
  const type = ggmlTypeById(t.typeId);
  if (type === undefined) {
    throw new GgufError("UNKNOWN_TYPE", path, `has type ${ggmlTypeName(t.typeId)}, which is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K are)`, at);
  }
  if (t.dims.some((d) => d < 1)) throw new GgufError("BAD_TENSOR", path, `has shape [${t.dims.join(", ")}] with an empty dimension`, at);
  if (t.dims[0] % type.blockValues !== 0) {
    throw new GgufError("BAD_TENSOR", path, `its first dimension ${t.dims[0]} is not a multiple of ${type.name}'s block of ${type.blockValues}`, at);
  }
  const values = t.dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(values)) throw new GgufError("BAD_TENSOR", path, `shape [${t.dims.join(", ")}] is too large`, at);
  const bytes = ggmlBytes(type, values);
  if (t.offset % alignment !== 0) throw new GgufError("BAD_TENSOR", path, `offset ${t.offset} is not a multiple of the alignment ${alignment}`, at);
  if (t.offset + bytes > dataBytes) {
    throw new GgufError("BAD_TENSOR", path, `its ${bytes} bytes at offset ${t.offset} run past the data section (${dataBytes} bytes): truncated file or wrong shape or type`, at);
  }
  return { name: t.name, dims: t.dims, type, offset: t.offset, bytes };
}

function checkOverlaps(tensors: readonly GgufTensorInfo[], path: string): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.bytes) {
      throw new GgufError("BAD_TENSOR", path, `its bytes overlap those of tensor "${prev.name}"`, `tensor "${sorted[i].name}"`);
    }
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError("BAD_TENSOR", path, "two tensors have this name", `tensor "${t.name}"`);
    names.add(t.name);
  }
}

/** Options for opening a GGUF file. */
export interface GgufOpenOptions {
  /** Called as tensor bytes are read (stage "read", unit "bytes"). */
  readonly onProgress?: ProgressCallback;
}

/** One GGUF file, its header validated; tensors are read (and dequantized) when asked for. */
export class GgufFile implements TensorSource {
  readonly path: string;
  readonly version: number;
  /** The metadata pairs, in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** The tensors as their infos say, in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  readonly names: readonly string[];
  private readonly byName: Map<string, GgufTensorInfo>;
  private readonly dataStart: number;
  private fd: number | undefined;
  private readonly progress: { done: number; total: number; report?: ProgressCallback };

  private constructor(path: string, fd: number, header: Header, onProgress: ProgressCallback | undefined) {
    this.path = path;
    this.fd = fd;
    this.version = header.version;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.names = header.tensors.map((t) => t.name);
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
    this.dataStart = header.dataStart;
    this.progress = { done: 0, total: header.size - header.dataStart, report: onProgress };
  }

  /** Open `path` and validate its header and tensor infos (the file stays open for reads until `close`). */
  static open(path: string, options: GgufOpenOptions = {}): GgufFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (cause) {
      throw new GgufError("IO", path, `cannot open: ${(cause as Error).message}`, undefined, { cause });
    }
    try {
      return new GgufFile(path, fd, parseHeader(fd, path), options.onProgress);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** True when a tensor of that name exists. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The tensor's own info (ggml dimensions and type); MISSING_TENSOR when absent. */
  ggufInfo(name: string): GgufTensorInfo {
    const t = this.byName.get(name);
    if (t === undefined) throw new GgufError("MISSING_TENSOR", this.path, "no such tensor", `tensor "${name}"`);
    return t;
  }

  /** The tensor seen as a float tensor: row-major shape, F32 / F16 / BF16 as stored, F32 for quantized types. */
  info(name: string): TensorInfo {
    const t = this.ggufInfo(name);
    const dtype = floatDtype(t.type);
    const values = t.dims.reduce((a, b) => a * b, 1);
    return { name, dtype, shape: [...t.dims].reverse(), byteOffset: t.offset, byteLength: values * DTYPE_SIZE[dtype], file: this.path };
  }

  /** The tensor as its float dtype, read now. */
  tensor(name: string): Tensor {
    const info = this.info(name);
    const data = new Uint8Array(info.byteLength);
    this.readInto(name, 0, data);
    return { dtype: info.dtype, shape: info.shape, data: rawView(info.dtype, data.buffer, 0, info.byteLength) };
  }

  /** The tensor as float32, read now. */
  toFloat32(name: string): Float32Array {
    const { dtype, shape, data } = this.tensor(name);
    if (dtype === "F32") return data as Float32Array;
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    toFloat32Into(dtype, data, out);
    return out;
  }

  /**
   * Reads bytes [offset, offset + into.byteLength) of the tensor seen as its float dtype (see {@link info}); for a
   * quantized tensor the range must cover whole values, and the blocks holding them are read and dequantized.
   */
  readInto(name: string, offset: number, into: ArrayBufferView): void {
    const t = this.ggufInfo(name);
    const dtype = floatDtype(t.type), size = DTYPE_SIZE[dtype];
    const length = into.byteLength, total = (t.bytes / t.type.blockBytes) * t.type.blockValues * size;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > total || offset % size !== 0 || length % size !== 0) {
      throw new RangeError(`bytes [${offset}, ${offset + length}) are not whole values inside tensor "${name}" (${total} bytes as ${dtype})`);
    }
    const bytes = new Uint8Array(into.buffer, into.byteOffset, length);
    if (t.type.blockValues === 1) {
      this.read(t, offset, bytes);
      return;
    }
    const first = offset / 4, count = length / 4, B = t.type.blockValues;
    const block0 = Math.floor(first / B), blocks = Math.ceil((first + count) / B) - block0;
    const raw = new Uint8Array(blocks * t.type.blockBytes);
    this.read(t, block0 * t.type.blockBytes, raw);
    const aligned = first % B === 0 && count % B === 0 && into.byteOffset % 4 === 0;
    const out = aligned ? new Float32Array(into.buffer, into.byteOffset, count) : new Float32Array(blocks * B);
    dequantize(t.type, raw, blocks, out);
    if (!aligned) bytes.set(new Uint8Array(out.buffer, (first - block0 * B) * 4, length));
  }

  /** Closes the file (later reads fail with IO). Idempotent. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private read(t: GgufTensorInfo, offset: number, into: Uint8Array): void {
    if (this.fd === undefined) throw new GgufError("IO", this.path, "file is closed", `tensor "${t.name}"`);
    readAll(this.fd, into, this.dataStart + t.offset + offset, this.path);
    const p = this.progress;
    p.done += into.length;
    p.report?.({ stage: "read", done: Math.min(p.done, p.total), total: p.total, unit: "bytes" });
  }
}

/** The float dtype a tensor of `type` is seen as: its own for float types, F32 for quantized ones. */
function floatDtype(type: GgmlType): DType {
  return type.name === "F16" ? "F16" : type.name === "BF16" ? "BF16" : "F32";
}

/** True when `path`'s first four bytes are GGUF's magic (false for a directory or an unreadable file). */
export function isGgufFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const b = new Uint8Array(4);
    return readSync(fd, b, 0, 4, 0) === 4 && new DataView(b.buffer).getUint32(0, true) === MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
