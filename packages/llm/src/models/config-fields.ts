/**
 * Reading a Hugging Face `config.json`: typed getters that fill transformers' defaults and refuse (MODEL_LOAD,
 * naming the file and the field) anything malformed or unsupported. Every architecture's config parser uses them,
 * so a refusal reads the same whichever architecture it comes from.
 */
import { LlmError } from "../errors.js";

/** A parsed config.json (or one of its nested objects). */
export type RawConfig = Readonly<Record<string, unknown>>;

/** How RoPE frequencies are scaled (HF `rope_type`). */
export type RopeScaling =
  | { readonly type: "default" }
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

/** A RoPE base frequency and its scaling. */
export interface RopeParameters {
  readonly theta: number;
  readonly scaling: RopeScaling;
}

/** The fields of one config file, read with checks; errors name `source`. */
export class ConfigFields {
  private constructor(readonly raw: RawConfig, readonly source: string) {}

  /** The fields of `raw`; refuses anything but a JSON object. */
  static of(raw: unknown, source: string): ConfigFields {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) refuseIn(source, "is not a JSON object");
    return new ConfigFields(raw as RawConfig, source);
  }

  /** Throws MODEL_LOAD: `source: what`. */
  refuse(what: string): never {
    return refuseIn(this.source, what);
  }

  /**
   * The model_type, which must be one of `types` (model_type → the HF architecture class it implies); a listed
   * `architectures` must include that class.
   */
  modelType(types: Readonly<Record<string, string>>): string {
    const modelType = this.raw.model_type;
    if (typeof modelType !== "string" || !Object.hasOwn(types, modelType)) {
      this.refuse(`model_type ${JSON.stringify(modelType)} is not supported (supported: ${Object.keys(types).join(", ")})`);
    }
    const archs = this.raw.architectures;
    if (archs !== undefined && archs !== null && (!Array.isArray(archs) || !archs.includes(types[modelType]))) {
      this.refuse(`architectures ${JSON.stringify(archs)} are not supported (expected ${types[modelType]})`);
    }
    return modelType;
  }

  /** A positive integer field (`fallback` when absent or null; required when there is none). */
  int(name: string, fallback?: number): number {
    const v = this.raw[name] ?? fallback;
    if (v === undefined) this.refuse(`required field ${name} is missing`);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) this.refuse(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A positive number field (`fallback` when absent or null; required when there is none). */
  positive(name: string, fallback?: number): number {
    return positiveValue(this.raw[name] ?? fallback, name, this.source);
  }

  /** A positive number, or 0 when the field is absent or null (an optional cap, window or scale). */
  optionalPositive(name: string): number {
    const v = this.raw[name];
    return v === undefined || v === null ? 0 : positiveValue(v, name, this.source);
  }

  /** A boolean field (`fallback` when absent or null). */
  bool(name: string, fallback: boolean): boolean {
    const v = this.raw[name] ?? fallback;
    if (typeof v !== "boolean") this.refuse(`${name} must be a boolean, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A string field that must be one of `allowed` (`fallback` when absent or null). */
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw[name] ?? fallback;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.refuse(`${name} ${JSON.stringify(v)} is not supported (supported: ${allowed.join(", ")})`);
    }
    return v as T;
  }

  /** A nested object field, or null when absent or null. */
  object(name: string): RawConfig | null {
    return objectOrNull(this.raw[name], name, this.source);
  }

  /**
   * The model_type, as {@link modelType} checks it, for an unquantized checkpoint: a `quantization_config` (GPTQ, AWQ,
   * bitsandbytes, …) is refused by name, since its weights are not the float tensors this engine reads.
   */
  plainModelType(types: Readonly<Record<string, string>>): string {
    const modelType = this.modelType(types);
    const q = this.raw.quantization_config;
    if (q !== undefined && q !== null) {
      const method = typeof q === "object" && "quant_method" in q ? ` (${JSON.stringify((q as { quant_method: unknown }).quant_method)})` : "";
      this.refuse(`quantization_config${method}: quantized checkpoints are not supported`);
    }
    return modelType;
  }

  /** Refuses each of `flags` that is set to true (features the engine does not implement). */
  refuseTrue(...flags: string[]): void {
    for (const flag of flags) if (this.raw[flag] === true) this.refuse(`${flag}: true is not supported`);
  }

  /**
   * RoPE base and scaling from `params` (a rope_parameters-style object: `rope_theta`, `rope_type` or `type`, and
   * the scaling fields), the top-level `rope_theta` or `fallbackTheta` supplying the base when it has none.
   */
  rope(params: RawConfig, fallbackTheta = 10000): RopeParameters {
    const theta = positiveValue(params.rope_theta ?? this.raw.rope_theta ?? fallbackTheta, "rope_theta", this.source);
    const type = params.rope_type ?? params.type ?? "default";
    const field = (name: string) => positiveValue(params[name], `rope ${name}`, this.source);
    switch (type) {
      case "default":
        return { theta, scaling: { type: "default" } };
      case "linear":
        return { theta, scaling: { type: "linear", factor: field("factor") } };
      case "llama3": {
        const scaling = {
          type: "llama3",
          factor: field("factor"),
          lowFreqFactor: field("low_freq_factor"),
          highFreqFactor: field("high_freq_factor"),
          originalMaxPositionEmbeddings: field("original_max_position_embeddings"),
        } as const;
        if (scaling.highFreqFactor <= scaling.lowFreqFactor) this.refuse("rope high_freq_factor must exceed low_freq_factor");
        return { theta, scaling };
      }
      default:
        return this.refuse(`rope_type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
    }
  }

  /**
   * A sliding window size: the field's value, 0 when it is null (no window), `fallback` when it is absent (the
   * architecture's default).
   */
  window(name: string, fallback: number): number {
    const v = this.raw[name];
    if (v === null) return 0;
    return v === undefined ? fallback : this.int(name);
  }

  /**
   * Each layer's sliding window (0: full attention): `layer_types` when the config lists them ("full_attention" or
   * "sliding_attention", one per layer), else `sliding(i)` says which layers slide. A sliding layer gets `window`
   * (0 when the config sets none, as transformers does).
   */
  layerWindows(layers: number, window: number, sliding: (layer: number) => boolean): number[] {
    const types = this.raw.layer_types;
    if (types !== undefined && types !== null && (!Array.isArray(types) || types.length !== layers)) {
      this.refuse(`layer_types must list one type per layer (${layers}), got ${JSON.stringify(types)}`);
    }
    return Array.from({ length: layers }, (_, i) => {
      const type = Array.isArray(types) ? types[i] : sliding(i) ? "sliding_attention" : "full_attention";
      if (type === "full_attention") return 0;
      if (type !== "sliding_attention") this.refuse(`layer_types[${i}] ${JSON.stringify(type)} is not supported (supported: full_attention, sliding_attention)`);
      return window;
    });
  }

  /** The model's one RoPE setting: from `rope_parameters`, else `rope_scaling`, else the top-level `rope_theta`. */
  globalRope(): RopeParameters {
    return this.rope(this.object("rope_parameters") ?? this.object("rope_scaling") ?? {});
  }
}

function refuseIn(source: string, what: string): never {
  throw new LlmError("MODEL_LOAD", `${source}: ${what}`, { file: source });
}

function positiveValue(v: unknown, name: string, source: string): number {
  if (v === undefined) refuseIn(source, `required field ${name} is missing`);
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) refuseIn(source, `${name} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function objectOrNull(v: unknown, name: string, source: string): RawConfig | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) refuseIn(source, `${name} must be an object`);
  return v as RawConfig;
}
