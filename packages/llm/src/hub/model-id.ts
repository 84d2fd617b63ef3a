/**
 * Hugging Face model ids as users write them: `org/name`, optionally `@revision` (a branch, a tag or a commit).
 */

/** A parsed model id. */
export interface ModelId {
  /** `org/name`. */
  readonly repo: string;
  /** Branch, tag or commit; `main` unless given. */
  readonly revision: string;
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REVISION = /^[A-Za-z0-9._/-]+$/;

/** The id in `text`, or null when it is not shaped like one (`org/name[@revision]`, no `..` or `--` in the names). */
export function parseModelId(text: string): ModelId | null {
  const at = text.indexOf("@");
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? "main" : text.slice(at + 1);
  const parts = repo.split("/");
  if (parts.length !== 2 || repo.length > 96) return null;
  if (!parts.every((p) => PART.test(p) && !p.includes("..") && !p.includes("--") && !p.endsWith("."))) return null;
  if (!REVISION.test(revision) || revision.includes("..")) return null;
  return { repo, revision };
}

/** `org/name`, with `@revision` unless it is `main`. */
export function formatModelId(id: ModelId): string {
  return id.revision === "main" ? id.repo : `${id.repo}@${id.revision}`;
}

/** True for a 40-hex-digit commit hash. */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
