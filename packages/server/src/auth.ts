// API-key check: `Authorization: Bearer KEY`, compared in constant time (both sides hashed to the same length
// first, so neither the key's content nor its length leaks through timing).
import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "./http-errors.js";

/** Paths anyone may read without a key: the playground page and its assets, and the readiness and liveness checks. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/", "/playground.js", "/playground.css", "/health", "/livez"]);

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** A checker for one API key. */
export class ApiKeyCheck {
  readonly #expected: Buffer;

  /** Throws RangeError for an empty key (that would be no protection at all). */
  constructor(key: string) {
    if (key.length === 0) throw new RangeError("apiKey must not be empty");
    this.#expected = digest(key);
  }

  /** Throws UNAUTHORIZED unless `authorization` is `Bearer <the key>`. */
  check(authorization: string | undefined): void {
    const match = authorization === undefined ? null : /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match === null) throw new ApiError("UNAUTHORIZED", "authorization: missing API key (send the header Authorization: Bearer <key>)", "authorization");
    if (!timingSafeEqual(digest(match[1]), this.#expected)) throw new ApiError("UNAUTHORIZED", "authorization: wrong API key", "authorization");
  }
}
