import { InferenceError } from "./errors.js";
import { findDataType, parseDataType, type DataType, type DataTypeLike, type DataTypeName } from "./dtype.js";

/** Where the model runs: the CPU, the default GPU, or a CUDA device by index. */
export type Device = "cpu" | "gpu" | `cuda:${number}`;

/** Which kernels run the model: the plain-JS reference, SIMD WebAssembly, or the GPU. */
export type KernelBackend = "js" | "wasm" | "gpu";

/** Tells whether `value` names a kernel backend. */
export function isKernelBackend(value: unknown): value is KernelBackend {
  return value === "js" || value === "wasm" || value === "gpu";
}

/** Plain backend settings: what {@link BackendConfig} is built from and what `toJSON()` returns. */
export interface BackendConfigInit {
  /** Model id or path (non-empty). */
  model: string;
  /** `cpu` (default), `gpu` or `cuda:N`. */
  device?: Device;
  /** Weight data type name or alias (default `float32`). */
  dtype?: DataTypeName | DataTypeLike;
  /** Longest sequence (prompt + generated tokens) the backend accepts (default 2048). */
  maxSequenceLength?: number;
  /** Use a fused attention kernel where the backend has one (default false). */
  flashAttention?: boolean;
  /** Worker threads for CPU kernels; absent means "as many as the machine has". */
  threads?: number;
  /** Kernels: `js` (reference), `wasm` (SIMD, threads) or `gpu`; absent means the device's default (cpu → wasm). */
  backend?: KernelBackend;
}

/** The default maximum sequence length. */
export const DEFAULT_MAX_SEQUENCE_LENGTH = 2048;

const CUDA = /^cuda:(0|[1-9][0-9]*)$/;

/** Tells whether `value` is a device string this runtime understands. */
export function isDevice(value: unknown): value is Device {
  return value === "cpu" || value === "gpu" || (typeof value === "string" && CUDA.test(value));
}

/**
 * Backend settings (after TGI's backend config): model, device, dtype, max sequence length, flash attention,
 * threads. Immutable: every `with*` setter returns a new config. Construction never throws; call
 * {@link BackendConfig.validate} (the builder does it at `build()`).
 */
export class BackendConfig {
  /** Model id or path. */
  readonly model: string;
  /** Where the model runs (`cpu` by default). */
  readonly device: Device;
  /** Canonical weight data type name (an unknown name is kept as given, and refused by `validate()`). */
  readonly dtype: DataTypeName | string;
  /** Longest sequence (prompt + generated tokens) the backend accepts. */
  readonly maxSequenceLength: number;
  /** Whether to use a fused attention kernel where the backend has one. */
  readonly flashAttention: boolean;
  /** Worker threads for CPU kernels; undefined means as many as the machine has. */
  readonly threads: number | undefined;
  /** Kernels; undefined means the device's default. */
  readonly backend: KernelBackend | undefined;

  /** Builds a config from a model id/path or from plain settings. */
  constructor(init: string | BackendConfigInit) {
    const plain: BackendConfigInit = typeof init === "string" ? { model: init } : init;
    this.model = plain.model;
    this.device = plain.device ?? "cpu";
    const dt = plain.dtype ?? "float32";
    this.dtype = findDataType(dt)?.name ?? (typeof dt === "string" ? dt : String(dt.name));
    this.maxSequenceLength = plain.maxSequenceLength ?? DEFAULT_MAX_SEQUENCE_LENGTH;
    this.flashAttention = plain.flashAttention ?? false;
    this.threads = plain.threads;
    this.backend = plain.backend;
  }

  /** Returns a copy that runs on `device`. */
  withDevice(device: Device): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), device });
  }

  /** Returns a copy with weight data type `dtype`. */
  withDtype(dtype: DataTypeLike): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), dtype });
  }

  /** Returns a copy with maximum sequence length `length`. */
  withMaxSequenceLength(length: number): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), maxSequenceLength: length });
  }

  /** Returns a copy with flash attention on or off. */
  withFlashAttention(enabled = true): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), flashAttention: enabled });
  }

  /** Returns a copy using `threads` kernel threads (undefined: automatic). */
  withThreads(threads: number | undefined): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), threads });
  }

  /** Returns a copy using kernels `backend` (undefined: the device's default). */
  withBackend(backend: KernelBackend | undefined): BackendConfig {
    return new BackendConfig({ ...this.toJSON(), backend });
  }

  /** The resolved data type; throws VALIDATION for an unknown `dtype` (see {@link validate}). */
  get dataType(): DataType {
    return parseDataType(this.dtype);
  }

  /** Checks every field; throws InferenceError VALIDATION whose message starts with the field name. Returns `this`. */
  validate(): this {
    const fail = (field: string, why: string): never => {
      throw new InferenceError("VALIDATION", `${field}: ${why}`);
    };
    if (typeof this.model !== "string" || this.model.trim() === "") fail("model", "model id or path must be a non-empty string");
    if (!isDevice(this.device)) fail("device", `unknown device ${JSON.stringify(this.device)} (expected cpu, gpu or cuda:N)`);
    if (findDataType(this.dtype) === undefined) fail("dtype", `unknown data type ${JSON.stringify(this.dtype)}`);
    const len = this.maxSequenceLength;
    if (typeof len !== "number" || !Number.isSafeInteger(len) || len <= 0) {
      fail("maxSequenceLength", `must be a positive integer, got ${String(len)}`);
    }
    if (typeof this.flashAttention !== "boolean") fail("flashAttention", "must be a boolean");
    const t = this.threads;
    if (t !== undefined && (typeof t !== "number" || !Number.isSafeInteger(t) || t <= 0)) {
      fail("threads", `must be a positive integer, got ${String(t)}`);
    }
    if (this.backend !== undefined && !isKernelBackend(this.backend)) fail("backend", `unknown backend ${JSON.stringify(this.backend)} (expected js, wasm or gpu)`);
    return this;
  }

  /** The settings as plain, structured-cloneable data (what crosses into the model worker). */
  toJSON(): BackendConfigInit {
    const out: BackendConfigInit = {
      model: this.model,
      device: this.device,
      dtype: this.dtype as DataTypeName,
      maxSequenceLength: this.maxSequenceLength,
      flashAttention: this.flashAttention,
    };
    if (this.threads !== undefined) out.threads = this.threads;
    if (this.backend !== undefined) out.backend = this.backend;
    return out;
  }
}
