/**
 * The weight data type names a {@link BackendConfig} accepts. Only names live here: how each type is stored and
 * computed with belongs to the kernels (`@actorlm/tensor`).
 */

/** Canonical data type names. */
export type DataTypeName = "float32" | "float16" | "bfloat16" | "int8" | "ternary" | "q4";

/** Every canonical data type name, in the order help texts list them. */
export const DATA_TYPE_NAMES: readonly DataTypeName[] = Object.freeze(["float32", "float16", "bfloat16", "int8", "ternary", "q4"]);

const NAMES: ReadonlySet<string> = new Set<string>(DATA_TYPE_NAMES);

const ALIASES = Object.freeze({
  f32: "float32",
  fp32: "float32",
  f16: "float16",
  fp16: "float16",
  bf16: "bfloat16",
  i8: "int8",
  "b1.58": "ternary",
  q4_0: "q4",
} as const satisfies Record<string, DataTypeName>);

/** A name accepted where a data type is expected: a canonical name or a short alias (`f32`, `bf16`, `i8`, ...). */
export type DataTypeLike = DataTypeName | keyof typeof ALIASES;

/** The canonical name of a data type name or alias, or undefined when `name` is neither. */
export function canonicalDataType(name: unknown): DataTypeName | undefined {
  if (typeof name !== "string") return undefined;
  if (NAMES.has(name)) return name as DataTypeName;
  return Object.hasOwn(ALIASES, name) ? ALIASES[name as keyof typeof ALIASES] : undefined;
}

/** Every accepted spelling, for messages. */
export function dataTypeSpellings(): string[] {
  return [...NAMES, ...Object.keys(ALIASES)];
}
