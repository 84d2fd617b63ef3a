/**
 * A GGUF file seen as the checkpoint it was converted from: each tensor under its Hugging Face name, in the layout
 * the architecture's recipe reads — the converter's q/k row interleaving undone, Gemma's 1 + w norms given back as
 * w, GPT-2's Conv1D weights transposed back — while rows are still read a few at a time from the file.
 */
import { GgufError, type GgmlTypeName, type GgufFile, type Tensor, type TensorInfo, type TensorSource } from "@actorlm/tensor";
import { LlmError } from "../errors.js";
import type { TensorMapping } from "./architectures.js";

/** Checkpoint names over a GGUF file's tensors. */
export class MappedGgufSource implements TensorSource {
  readonly names: readonly string[];

  constructor(private readonly file: GgufFile, private readonly map: ReadonlyMap<string, TensorMapping>) {
    this.names = [...map.keys()].filter((n) => file.has(map.get(n)!.gguf));
  }

  /** True when the tensor exists in the file. */
  has(name: string): boolean {
    const m = this.map.get(name);
    return m !== undefined && this.file.has(m.gguf);
  }

  /** The ggml type of the tensor a checkpoint name stands for, or undefined when the file lacks it. */
  ggufType(name: string): GgmlTypeName | undefined {
    const m = this.map.get(name);
    return m === undefined || !this.file.has(m.gguf) ? undefined : this.file.ggufInfo(m.gguf).type.name;
  }

  /** The tensor's info under its checkpoint name (F32 for quantized and remapped tensors). */
  info(name: string): TensorInfo {
    const m = this.mapping(name);
    const info = this.file.info(m.gguf);
    const changed = m.minusOne === true || m.transposed === true;
    const shape = m.transposed === true ? [...info.shape].reverse() : info.shape;
    return changed && info.dtype !== "F32"
      ? { ...info, name, dtype: "F32", shape, byteLength: shape.reduce((a, b) => a * b, 1) * 4 }
      : { ...info, name, shape };
  }

  /** The tensor, read now. */
  tensor(name: string): Tensor {
    const info = this.info(name);
    const data = new Uint8Array(info.byteLength);
    this.readInto(name, 0, data);
    const f32 = info.dtype === "F32" ? new Float32Array(data.buffer) : new Uint16Array(data.buffer);
    return { dtype: info.dtype, shape: info.shape, data: f32 };
  }

  /** The tensor as float32, read now. */
  toFloat32(name: string): Float32Array {
    const m = this.mapping(name);
    const values = this.file.toFloat32(m.gguf);
    if (m.minusOne === true) for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i] - 1);
    if (m.transposed === true) {
      const [rows, cols] = this.file.info(m.gguf).shape;
      const out = new Float32Array(values.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
      return out;
    }
    return values;
  }

  /** Reads bytes of the tensor as {@link info} shows it; permuted tensors a row at a time from their stored rows. */
  readInto(name: string, offset: number, into: ArrayBufferView): void {
    const m = this.mapping(name);
    if (m.minusOne === true || m.transposed === true) {
      const all = new Uint8Array(this.toFloat32(name).buffer);
      new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(all.subarray(offset, offset + into.byteLength));
      return;
    }
    if (m.permuteHeads === undefined) {
      this.file.readInto(m.gguf, offset, into);
      return;
    }
    // checkpoint row n is stored row head·d + 2j + h, where n = head·d + h·d/2 + j
    const info = this.file.info(m.gguf);
    const size = info.dtype === "F32" ? 4 : 2;
    const rowBytes = (info.shape.length === 2 ? info.shape[1] : 1) * size;
    const d = m.permuteHeads, half = d / 2;
    const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    for (let at = 0; at < bytes.length;) {
      const n = Math.floor((offset + at) / rowBytes), within = (offset + at) % rowBytes;
      const head = Math.floor(n / d), r = n % d;
      const stored = head * d + 2 * (r % half) + Math.floor(r / half);
      const take = Math.min(rowBytes - within, bytes.length - at);
      this.file.readInto(m.gguf, stored * rowBytes + within, bytes.subarray(at, at + take));
      at += take;
    }
  }

  /**
   * `error` with each checkpoint tensor it names (`weight "model.norm.weight"`, as the weight loader names them) also
   * named as the GGUF tensor and file it came from; other errors as they are.
   */
  nameTensors(error: unknown): unknown {
    if (error instanceof GgufError) return ggufLoadError(error);
    if (!(error instanceof LlmError) || error.code !== "MODEL_LOAD") return error;
    const message = error.message.replace(/weight "([^"]+)"/g, (all, name: string) => {
      const m = this.map.get(name);
      return m === undefined ? all : `${all} (GGUF tensor "${m.gguf}" of ${this.file.path})`;
    });
    return message === error.message ? error : new LlmError("MODEL_LOAD", message, { field: error.field, file: error.file ?? this.file.path }, { cause: error });
  }

  /** Closes the file. */
  close(): void {
    this.file.close();
  }

  private mapping(name: string): TensorMapping {
    const m = this.map.get(name);
    if (m === undefined) return { gguf: name };                // the file's own error names it as missing
    return m;
  }
}

/** A reader's GgufError as the LlmError the engine's errors are (MODEL_LOAD, the file named, the reader's as cause). */
export function ggufLoadError(error: GgufError): LlmError {
  return new LlmError("MODEL_LOAD", error.message, { file: error.file }, { cause: error });
}
