import { InferenceError } from "./errors.js";

/** Canonical data type names. */
export type DataTypeName = "float32" | "float16" | "bfloat16" | "int8" | "ternary";

/**
 * A weight data type. `bits` is the storage width of one element; `byteSize` is `bits / 8`, so it is
 * fractional for packed types: ternary (BitNet b1.58) stores one weight in 2 bits, four per byte,
 * hence `byteSize` 0.25. Use {@link bytesFor} to size a buffer (it rounds up to whole bytes).
 */
export interface DataType {
  readonly name: DataTypeName;
  readonly bits: number;
  readonly byteSize: number;
}

function dtype(name: DataTypeName, bits: number): DataType {
  return Object.freeze({ name, bits, byteSize: bits / 8 });
}

/** The supported data types, by canonical name. */
export const DataTypes: Readonly<Record<DataTypeName, DataType>> = Object.freeze({
  float32: dtype("float32", 32),
  float16: dtype("float16", 16),
  bfloat16: dtype("bfloat16", 16),
  int8: dtype("int8", 8),
  ternary: dtype("ternary", 2),
});

const ALIASES: Readonly<Record<string, DataTypeName>> = Object.freeze({
  f32: "float32",
  fp32: "float32",
  f16: "float16",
  fp16: "float16",
  bf16: "bfloat16",
  i8: "int8",
  "b1.58": "ternary",
});

/** A name accepted where a data type is expected: a canonical name or a short alias (`f32`, `bf16`, `i8`, ...). */
export type DataTypeLike = DataTypeName | "f32" | "fp32" | "f16" | "fp16" | "bf16" | "i8" | "b1.58" | DataType;

/** Resolves a name or alias to its DataType, or undefined when unknown. */
export function findDataType(name: unknown): DataType | undefined {
  if (typeof name === "object" && name !== null && "name" in name) return findDataType(name.name);
  if (typeof name !== "string") return undefined;
  const canonical = Object.hasOwn(DataTypes, name) ? (name as DataTypeName) : ALIASES[name];
  return canonical === undefined ? undefined : DataTypes[canonical];
}

/** Resolves a name or alias to its DataType; throws VALIDATION naming the value when unknown. */
export function parseDataType(name: DataTypeLike | string): DataType {
  const found = findDataType(name);
  if (found === undefined) {
    const known = [...Object.keys(DataTypes), ...Object.keys(ALIASES)].join(", ");
    throw new InferenceError("VALIDATION", `dtype: unknown data type ${JSON.stringify(name)} (known: ${known})`);
  }
  return found;
}

/** Bytes needed to store `count` elements of `type`, rounded up to a whole byte. */
export function bytesFor(type: DataType, count: number): number {
  return Math.ceil((count * type.bits) / 8);
}
