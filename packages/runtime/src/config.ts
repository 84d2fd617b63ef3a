import { InferenceError } from "./errors.js";
import { canonicalDataType, dataTypeSpellings, type DataTypeLike, type DataTypeName } from "./dtype.js";
import { integerProblem } from "./options.js";

/** Where the model runs: the CPU, the GPU (its high-performance WebGPU adapter), a CUDA device by index, or `auto`: the GPU when there is one, else the CPU. */
export type Device = "cpu" | "gpu" | `cuda:${number}` | "auto";

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
  /** `cpu` (default), `gpu`, `cuda:N`, or `auto` (the GPU if one is found, else the CPU; the model's info says which). */
  device?: Device;
  /** Weight data type name or alias (default `float32`). */
  dtype?: DataTypeLike;
  /** Longest sequence (prompt + generated tokens) to accept; absent means the model's own limit. */
  maxSequenceLength?: number;
  /** Use a fused attention kernel where the backend has one (default false). */
  flashAttention?: boolean;
  /** Threads for CPU kernels; absent means "as many as the machine has". */
  threads?: number;
  /** Kernels: `js` (reference), `wasm` (SIMD, threads) or `gpu`; absent means the device's default (cpu → wasm, gpu → gpu). */
  backend?: KernelBackend;
}

const CUDA = /^cuda:(0|[1-9][0-9]*)$/;

/** Tells whether `value` is a device string this runtime understands. */
export function isDevice(value: unknown): value is Device {
  return value === "cpu" || value === "gpu" || value === "auto" || (typeof value === "string" && CUDA.test(value));
}

/**
 * Backend settings (after TGI's backend config): model, device, dtype, max sequence length, flash attention,
 * threads. Immutable: every `with*` setter returns a new config. Construction never throws; call
 * {@link BackendConfig.validate} (the model host does it before starting a worker). A setting left unset means
 * the model's or the engine's own choice; a setting the engine cannot honour is refused by name when the model
 * loads (MODEL_LOAD), never silently ignored.
 */
export class BackendConfig {
  /** Model id or path. */
  readonly model: string;
  /** Where the model runs (`cpu` by default). */
  readonly device: Device;
  /** Canonical weight data type name (an unknown name is kept as given, and refused by `validate()`). */
  readonly dtype: DataTypeName;
  /** Longest sequence (prompt + generated tokens) to accept; undefined means the model's own limit. */
  readonly maxSequenceLength: number | undefined;
  /** Whether to use a fused attention kernel. */
  readonly flashAttention: boolean;
  /** Threads for CPU kernels; undefined means as many as the machine has. */
  readonly threads: number | undefined;
  /** Kernels; undefined means the device's default. */
  readonly backend: KernelBackend | undefined;

  /** Builds a config from a model id/path or from plain settings. */
  constructor(init: string | BackendConfigInit) {
    const plain: Partial<BackendConfigInit> = typeof init === "string" ? { model: init } : typeof init === "object" && init !== null ? init : {};
    this.model = plain.model as string;
    this.device = plain.device ?? "cpu";
    const dtype = plain.dtype ?? "float32";
    this.dtype = canonicalDataType(dtype) ?? (dtype as DataTypeName);
    this.maxSequenceLength = plain.maxSequenceLength;
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

  /** Returns a copy with maximum sequence length `length` (undefined: the model's own). */
  withMaxSequenceLength(length: number | undefined): BackendConfig {
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

  /** Checks every field; throws InferenceError VALIDATION naming the field (`field`, and the message's start). Returns `this`. */
  validate(): this {
    const fail = (field: string, why: string): never => {
      throw new InferenceError("VALIDATION", `${field}: ${why}`, { field });
    };
    if (typeof this.model !== "string" || this.model.trim() === "") fail("model", "model id or path must be a non-empty string");
    if (!isDevice(this.device)) fail("device", `unknown device ${JSON.stringify(this.device)} (expected cpu, gpu, cuda:N or auto)`);
    if (canonicalDataType(this.dtype) === undefined) {
      fail("dtype", `unknown data type ${JSON.stringify(this.dtype)} (known: ${dataTypeSpellings().join(", ")})`);
    }
    for (const field of ["maxSequenceLength", "threads"] as const) {
      const problem = this[field] === undefined ? undefined : integerProblem(this[field], 1);
      if (problem !== undefined) fail(field, problem);
    }
    if (typeof this.flashAttention !== "boolean") fail("flashAttention", "must be a boolean");
    if (this.backend !== undefined && !isKernelBackend(this.backend)) fail("backend", `unknown backend ${JSON.stringify(this.backend)} (expected js, wasm or gpu)`);
    return this;
  }

  /** The settings as plain, structured-cloneable data (what crosses into the model worker); unset ones are left out. */
  toJSON(): BackendConfigInit {
    const out: BackendConfigInit = { model: this.model, device: this.device, dtype: this.dtype, flashAttention: this.flashAttention };
    if (this.maxSequenceLength !== undefined) out.maxSequenceLength = this.maxSequenceLength;
    if (this.threads !== undefined) out.threads = this.threads;
    if (this.backend !== undefined) out.backend = this.backend;
    return out;
  }
}
