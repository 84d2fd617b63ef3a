// What a request may constrain its output with, and the checks a grammar passes before anyone compiles it: the shape of
// the spec, and for a JSON Schema every keyword of the subset xgrammar enforces, naming the path inside the schema of
// the first fault (`grammar.schema.properties.age.type`). Keywords xgrammar would silently ignore (so the output
// might not validate) are refused by name instead.
import { formatFieldPath, toFieldPath, type FieldPath } from "@actorlm/runtime";
import { LlmError } from "../errors.js";

/** A JSON Schema: an object, or `true` / `false`. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** A grammar a request's output must follow. */
export type GrammarSpec =
  /** Any JSON object (OpenAI's `json_object`). */
  | { readonly type: "json_object" }
  /** JSON valid under `schema` (OpenAI strict-mode subset and more: see {@link checkJsonSchema}). */
  | { readonly type: "json_schema"; readonly schema: JsonSchema }
  /** Text matching a regular expression, whole (no anchors needed). */
  | { readonly type: "regex"; readonly pattern: string }
  /** Text of an EBNF grammar in xgrammar's dialect (GBNF-like: `root ::= "a" [0-9]+`), from rule `root`. */
  | { readonly type: "ebnf"; readonly grammar: string };

/** The grammar kinds, in the order the docs list them. */
export const GRAMMAR_TYPES = ["json_object", "json_schema", "regex", "ebnf"] as const;

/** Keywords that only annotate a schema (never constrain the output): allowed anywhere, ignored. */
const ANNOTATIONS = new Set([
  "title", "description", "$comment", "default", "examples", "$schema", "$id", "deprecated", "readOnly", "writeOnly", "strict",
]);

/** Keywords xgrammar enforces, checked below. */
const SUPPORTED = new Set([
  "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum", "const",
  "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "pattern", "format", "minLength", "maxLength", "minimum", "maximum",
  "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties", "patternProperties", "propertyNames",
  "unevaluatedProperties", "unevaluatedItems",
]);

/** Keywords refused by name: xgrammar cannot enforce them, so an output could break them. */
const UNSUPPORTED = new Set([
  "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies", "contains", "minContains", "maxContains",
  "uniqueItems", "multipleOf", "contentEncoding", "contentMediaType", "contentSchema", "$dynamicRef", "$dynamicAnchor",
  "$recursiveRef", "$anchor",
]);

const TYPES = new Set(["object", "array", "string", "number", "integer", "boolean", "null"]);

/**
 * String formats xgrammar builds a grammar for; any other format is refused (it would be ignored). `ipv4` is left
 * out: xgrammar's grammar for it allows leading zeros ("155.000.44.44"), which the format forbids.
 */
const FORMATS = new Set(["email", "date", "time", "date-time", "duration", "ipv6", "hostname", "uuid", "uri", "uri-reference", "uri-template", "json-pointer", "relative-json-pointer"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Refuse (VALIDATION naming `path`) with `message`. */
function fail(path: FieldPath, message: string): never {
  throw new LlmError("VALIDATION", `${formatFieldPath(path)}: ${message}`, { field: path });
}

/** The path of `key` under `base`. */
function child(base: FieldPath, key: string | number): FieldPath {
  return [...base, key];
}

/**
 * Check a grammar spec (the request's `field`): its shape, and for a JSON Schema every keyword. Returns it as a
 * plain object of the right type; throws VALIDATION naming the path of the first fault.
 */
export function checkGrammarSpec(value: unknown, at: string | FieldPath = "grammar"): GrammarSpec {
  const field = toFieldPath(at);
  if (!isObject(value)) fail(field, `must be an object with a type (${GRAMMAR_TYPES.join(", ")})`);
  const spec = value as Record<string, unknown>;
  const only = (allowed: string[]) => {
    for (const key of Object.keys(spec)) if (key !== "type" && !allowed.includes(key)) fail(child(field, key), `unknown field for a ${String(spec.type)} grammar`);
  };
  switch (spec.type) {
    case "json_object":
      only([]);
      return { type: "json_object" };
    case "json_schema": {
      only(["schema"]);
      if (spec.schema === undefined) fail(child(field, "schema"), "is required");
      checkJsonSchema(spec.schema, child(field, "schema"));
      return { type: "json_schema", schema: spec.schema as JsonSchema };
    }
    case "regex": {
      only(["pattern"]);
      if (typeof spec.pattern !== "string" || spec.pattern.length === 0) fail(child(field, "pattern"), "must be a non-empty string");
      checkRegex(spec.pattern as string, child(field, "pattern"));
      return { type: "regex", pattern: spec.pattern as string };
    }
    case "ebnf": {
      only(["grammar"]);
      if (typeof spec.grammar !== "string" || spec.grammar.trim().length === 0) fail(child(field, "grammar"), "must be a non-empty string");
      return { type: "ebnf", grammar: spec.grammar as string };
    }
    default:
      return fail(child(field, "type"), `must be one of ${GRAMMAR_TYPES.join(", ")}, got ${JSON.stringify(spec.type)}`);
  }
}

/** Refuse (VALIDATION naming `path`) a pattern JavaScript cannot parse as a regular expression. */
export function checkRegex(pattern: string, at: string | FieldPath): void {
  const path = toFieldPath(at);
  try {
    new RegExp(pattern, "u");
  } catch (error) {
    fail(path, `not a valid regular expression (${error instanceof Error ? error.message : String(error)})`);
  }
}

/**
 * Check a JSON Schema against the subset xgrammar enforces, at `path`: unknown types, malformed keywords and
 * `$ref`s that do not resolve are VALIDATION naming the path; keywords it cannot enforce are VALIDATION naming the
 * keyword. Annotations (title, description, default, ...) and keywords of no JSON Schema draft pass.
 */
export function checkJsonSchema(schema: unknown, at: string | FieldPath = "schema"): void {
  const path = toFieldPath(at);
  new SchemaChecker(schema, path).check(schema, path);
}

/** One walk over a schema: keeps the root, to resolve `$ref`s against it. */
class SchemaChecker {
  constructor(private readonly root: unknown, private readonly rootPath: FieldPath) {}

  check(schema: unknown, path: FieldPath): void {
    if (typeof schema === "boolean") return;
    if (!isObject(schema)) fail(path, "must be a schema (an object or a boolean)");
    for (const [key, v] of Object.entries(schema)) {
      const at = child(path, key);
      if (UNSUPPORTED.has(key)) fail(at, `the keyword "${key}" is not supported in constrained decoding (the output could not be guaranteed to satisfy it)`);
      if (ANNOTATIONS.has(key) || !SUPPORTED.has(key)) continue;
      this.keyword(key, v, at, schema);
    }
  }

  private keyword(key: string, v: unknown, at: FieldPath, schema: Record<string, unknown>): void {
    const schemas = (list: unknown, min: number) => {
      if (!Array.isArray(list) || list.length < min) fail(at, `must be an array of at least ${min} schema${min === 1 ? "" : "s"}`);
      (list as unknown[]).forEach((s, i) => this.check(s, child(at, i)));
    };
    const count = () => {
      if (!Number.isSafeInteger(v) || (v as number) < 0) fail(at, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    };
    const bound = () => {
      if (typeof v !== "number" || !Number.isFinite(v)) fail(at, `must be a number, got ${JSON.stringify(v)}`);
    };
    switch (key) {
      case "type": {
        const list = Array.isArray(v) ? v : [v];
        if (list.length === 0) fail(at, "must name at least one type");
        list.forEach((t, i) => {
          if (typeof t !== "string" || !TYPES.has(t)) fail(Array.isArray(v) ? child(at, i) : at, `unknown type ${JSON.stringify(t)} (one of ${[...TYPES].join(", ")})`);
        });
        return;
      }
      case "properties":
      case "patternProperties":
      case "$defs":
      case "definitions":
        if (!isObject(v)) fail(at, "must be an object of schemas");
        for (const [name, s] of Object.entries(v as Record<string, unknown>)) {
          if (key === "patternProperties") checkRegex(name, child(at, name));
          this.check(s, child(at, name));
        }
        return;
      case "required":
        if (!Array.isArray(v)) fail(at, "must be an array of property names");
        (v as unknown[]).forEach((name, i) => {
          if (typeof name !== "string") fail(child(at, i), "must be a property name (a string)");
        });
        return;
      case "additionalProperties":
      case "unevaluatedProperties":
      case "unevaluatedItems":
      case "propertyNames":
        this.check(v, at);
        return;
      case "items":
        if (Array.isArray(v)) fail(at, 'an array of item schemas is the old tuple form: use "prefixItems"');
        this.check(v, at);
        return;
      case "prefixItems":
        schemas(v, 0);
        return;
      case "anyOf":
      case "oneOf":
        schemas(v, 1);
        return;
      case "allOf":
        schemas(v, 1);
        if ((v as unknown[]).length > 1) fail(at, 'the keyword "allOf" is supported with one schema only (merge the others into it)');
        return;
      case "enum":
        if (!Array.isArray(v) || v.length === 0) fail(at, "must be a non-empty array of values");
        return;
      case "const":
        return;
      case "$ref":
        if (typeof v !== "string") fail(at, "must be a string");
        this.resolve(v as string, at);
        return;
      case "pattern":
        if (typeof v !== "string") fail(at, "must be a string");
        checkRegex(v as string, at);
        return;
      case "format":
        if (typeof v !== "string" || !FORMATS.has(v)) fail(at, `the format ${JSON.stringify(v)} is not supported (supported: ${[...FORMATS].join(", ")})`);
        return;
      case "minItems":
      case "maxItems":
      case "minLength":
      case "maxLength":
      case "minProperties":
      case "maxProperties":
        count();
        checkRange(schema, key, at);
        return;
      case "minimum":
      case "maximum":
      case "exclusiveMinimum":
      case "exclusiveMaximum":
        bound();
        return;
    }
  }

  /** Resolve a local `$ref` (`#`, `#/$defs/x`, `#/definitions/x`, any JSON pointer into the root); VALIDATION at `at` otherwise. */
  private resolve(ref: string, at: FieldPath): void {
    if (!ref.startsWith("#")) fail(at, `only local references ("#/$defs/name") are supported, got ${JSON.stringify(ref)}`);
    let node: unknown = this.root;
    const pointer = ref.slice(1);
    if (pointer === "") return;
    if (!pointer.startsWith("/")) fail(at, `${JSON.stringify(ref)} is not a JSON pointer`);
    for (const raw of pointer.slice(1).split("/")) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObject(node) || !(key in node)) fail(at, `${JSON.stringify(ref)} does not resolve inside ${formatFieldPath(this.rootPath)}`);
      node = (node as Record<string, unknown>)[key];
    }
  }
}

/** Refuse a min keyword above its max (minItems 3 with maxItems 2): nothing could satisfy it. */
function checkRange(schema: Record<string, unknown>, key: string, at: FieldPath): void {
  const pairs: Record<string, string> = { minItems: "maxItems", minLength: "maxLength", minProperties: "maxProperties" };
  const max = pairs[key];
  if (max !== undefined && typeof schema[max] === "number" && (schema[key] as number) > (schema[max] as number)) {
    fail(at, `${String(schema[key])} exceeds ${max} ${String(schema[max])}`);
  }
}
