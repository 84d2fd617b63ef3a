/** A JSON Schema validator for the tests (ajv, draft 2020-12, with its formats): what a constrained output is held to. */
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));

/** Whether `text` parses as JSON valid under `schema`; the reason when it does not. */
export function validates(text: string, schema: Record<string, unknown> | boolean): { ok: true } | { ok: false; why: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, why: `not JSON: ${(error as Error).message}` };
  }
  const { $schema: _, ...plain } = typeof schema === "boolean" ? { $schema: undefined } : schema; // ajv 2020 knows no draft-07 meta-schema
  const check = ajv.compile(typeof schema === "boolean" ? schema : plain);
  return check(value) ? { ok: true } : { ok: false, why: ajv.errorsText(check.errors) };
}
