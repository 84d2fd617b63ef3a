// Request bodies: UTF-8 JSON, parsed strictly. Invalid UTF-8 is refused (not replaced with U+FFFD) naming the field
// it is in, and so is a prototype key (`__proto__`, `constructor`) anywhere in the body, naming where it is.
import { isUtf8 } from "node:buffer";
import { ApiError } from "./http-errors.js";

/** Keys no request may carry: code that merges objects would reach the prototype through them. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor"]);

/** The JSON value of a request body; MALFORMED_BODY (400) naming the field at fault otherwise. */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new ApiError("MALFORMED_BODY", "body: must be a JSON object, got an empty body", "body");
  if (!isUtf8(body)) {
    const at = Math.max(0, firstInvalidUtf8(body));
    const field = pathAt(body.subarray(0, at).toString("utf8")) || "body";
    const byte = body[at].toString(16).padStart(2, "0");
    throw new ApiError("MALFORMED_BODY", `${field}: not valid UTF-8 (byte 0x${byte} at offset ${at}); send the body as UTF-8`, field);
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new ApiError("MALFORMED_BODY", `body: malformed JSON (${(error as Error).message})`, "body", { cause: error });
  }
  const forbidden = forbiddenKeyOf(value);
  if (forbidden !== undefined) throw new ApiError("MALFORMED_BODY", `${forbidden}: a prototype key is not allowed in a request`, forbidden);
  return value;
}

/** The path (`a.b[2].__proto__`) of the first forbidden key in `value`, if any (iterative: any nesting depth). */
function forbiddenKeyOf(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, ""]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, `${path}[${i}]`]));
      continue;
    }
    for (const key of Object.keys(node)) {
      const at = path === "" ? key : `${path}.${key}`;
      if (FORBIDDEN_KEYS.has(key)) return at;
      stack.push([(node as Record<string, unknown>)[key], at]);
    }
  }
  return undefined;
}

/** Offset of the first byte of `bytes` that does not start or continue a well-formed UTF-8 sequence (-1: none). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    const tail = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (tail < 0 || i + tail >= bytes.length) return i;
    // the second byte's range excludes overlong forms, surrogates and code points past U+10FFFF
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
    if (bytes[i + 1] < lo || bytes[i + 1] > hi) return i;
    for (let k = 2; k <= tail; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += tail + 1;
  }
  return -1;
}

/** The field (`messages[1].content`) that the end of a JSON text's prefix lies in; "" at the top level. */
function pathAt(prefix: string): string {
  const frames: { array: boolean; key: string | undefined; index: number; value: boolean }[] = [];
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i];
    const top = frames.at(-1);
    if (c === '"') {
      let j = i + 1;
      while (j < prefix.length && prefix[j] !== '"') j += prefix[j] === "\\" ? 2 : 1;
      if (j >= prefix.length) break; // the prefix ends inside this string
      if (top !== undefined && !top.array && !top.value) top.key = keyOf(prefix.slice(i, j + 1));
      i = j;
    } else if (c === "{" || c === "[") {
      frames.push({ array: c === "[", key: undefined, index: 0, value: false });
    } else if (c === "}" || c === "]") {
      frames.pop();
    } else if (c === ":" && top !== undefined) {
      top.value = true;
    } else if (c === "," && top !== undefined) {
      if (top.array) top.index++;
      else top.value = false;
    }
  }
  let path = "";
  for (const frame of frames) {
    if (frame.array) path += `[${frame.index}]`;
    else if (frame.value && frame.key !== undefined) path += path === "" ? frame.key : `.${frame.key}`;
    else break; // inside a key: the object holding it is the field
  }
  return path;
}

function keyOf(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.slice(1, -1);
  }
}
