/**
 * Fetching a model from the Hugging Face Hub (or a mirror at HF_ENDPOINT) into the local cache, in the layout
 * huggingface_hub writes (see cache.ts), so transformers and huggingface-cli find it too. Only when asked: nothing in
 * the library downloads on its own.
 *
 * Files come from `{endpoint}/{org}/{name}/resolve/{revision}/{file}`. A HEAD request (redirects not followed, as the
 * Hub puts the metadata on the redirect) gives each file's commit, ETag and size; the content goes to
 * `blobs/<etag>.incomplete`, resumed with a Range request after an interruption (within a run, and across runs),
 * checked against the announced size, then renamed to `blobs/<etag>` and linked from `snapshots/<commit>/<file>`.
 * A request the server answers with a 5xx (or 429), one that cannot connect, and a transfer cut short are tried again
 * after a growing pause (0.5 s, 1 s, 2 s, … at most 8 s, or the server's Retry-After within that bound).
 *
 * Why not `@huggingface/hub` (2.17): its `downloadFileToCacheDir` writes the same cache layout, but asks the Hub's
 * `/api/.../paths-info` endpoint (which a mirror serving only `resolve/` URLs lacks), rewrites a partial file from the
 * start, takes no progress callback nor AbortSignal, retries nothing (a 503 or a cut connection fails the download),
 * writes no `refs/<revision>` (only `snapshotDownload`, which fetches every file of the repository, does) and logs each
 * file to stdout; README "Dependencies and why" has the measurements.
 */
import { createHash } from "node:crypto";
import { copyFile, mkdir, open, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LlmError } from "../errors.js";
import { hubCacheDir, repoFolder } from "./cache.js";
import { parseGgufModelId, type GgufModelId } from "./gguf-id.js";
import { formatModelId, isCommitHash, parseModelId, type ModelId } from "./model-id.js";

/** Where a download stands, reported after every chunk written. */
export interface DownloadProgress {
  /** The file being fetched. */
  readonly file: string;
  /** Bytes of every planned file present so far (already cached ones included), and their total. */
  readonly done: number;
  readonly total: number;
}

/** Options of {@link downloadModel}. */
export interface DownloadOptions {
  /** The Hub or a mirror (default HF_ENDPOINT, else https://huggingface.co). */
  readonly endpoint?: string;
  /** Access token sent as `Authorization: Bearer` (default HF_TOKEN). */
  readonly token?: string;
  /** The cache to fill (default: see {@link hubCacheDir}). */
  readonly cacheDir?: string;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  /**
   * Tries per request before giving up (default 3): a 5xx or 429 answer and a failed connection are tried again, and
   * an interrupted transfer resumes the partial file, each after a growing pause.
   */
  readonly attempts?: number;
}

/** What {@link downloadModel} did. */
export interface DownloadResult {
  /** The snapshot folder: a model directory the engine loads (for a GGUF file, the file in it). */
  readonly dir: string;
  readonly commit: string;
  /** Files in the snapshot, in the order fetched. */
  readonly files: readonly string[];
  /** Bytes transferred by this call (0 when everything was cached). */
  readonly bytesDownloaded: number;
}

/** Files a model may have beside its config and weights; fetched when the repository has them. */
const OPTIONAL = ["tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "chat_template.jinja"];

/** One file's metadata, from a HEAD request. */
interface Remote {
  readonly file: string;
  readonly url: string;
  readonly etag: string;
  readonly size: number | null;
}

/**
 * Fetches what the model `model` (`org/name[@revision]`) needs — config.json, the safetensors weights (one file, or an
 * index and its shards), tokenizer.json, and the tokenizer and generation configs and chat template when present —
 * into the cache. Files already there are not fetched again. Refuses (MODEL_LOAD naming the id) a model the endpoint
 * does not have or does not let us read, an interrupted transfer after every retry (run again to resume), and a file
 * whose size is not the one announced.
 */
export async function downloadModel(model: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const gguf = parseGgufModelId(model);
  if (gguf !== null) return downloadGguf(model, gguf, options);
  const id = parseModelId(model);
  if (id === null) throw new LlmError("VALIDATION", `model: "${model}" is not a Hugging Face model id (org/name, optionally @revision)`, { field: "model" });
  const hub = new HubClient(id, options);
  const folder = repoFolder(options.cacheDir ?? hubCacheDir(), id.repo);

  // config.json first: it tells whether the model exists at all, and which commit the revision is at
  const config = await hub.head("config.json", id.revision, true);
  const commit = config.commit ?? id.revision;
  const at = isCommitHash(id.revision) ? id.revision : commit;
  const snapshot = join(folder, "snapshots", commit);
  const store = new BlobStore(folder, snapshot);

  const plan: Remote[] = [config.remote, (await hub.head("tokenizer.json", at, true)).remote];
  const index = await hub.head("model.safetensors.index.json", at, false);
  let bytes = 0;
  if (index === null) {
    plan.push((await hub.head("model.safetensors", at, true, "only safetensors checkpoints are supported")).remote);
  } else {
    bytes += await store.fetch(index.remote, hub, () => undefined);                      // the index names the shards
    plan.push(index.remote);
    for (const shard of shardsOf(await readFile(join(snapshot, index.remote.file), "utf8"), index.remote.file, hub.name)) {
      plan.push((await hub.head(shard, at, true)).remote);
    }
  }
  for (const file of OPTIONAL) {
    const found = await hub.head(file, at, false);
    if (found !== null) plan.push(found.remote);
  }

  const total = plan.reduce((n, r) => n + (r.size ?? 0), 0);
  let done = 0;
  for (const remote of plan) {
    const before = done;
    bytes += await store.fetch(remote, hub, (fileDone) => {
      done = before + fileDone;
      options.onProgress?.({ file: remote.file, done, total });
    });
    done = before + (remote.size ?? 0);
    options.onProgress?.({ file: remote.file, done, total });
  }
  if (!isCommitHash(id.revision)) {
    await mkdir(join(folder, "refs", dirname(id.revision)), { recursive: true });
    await writeFile(join(folder, "refs", id.revision), commit);
  }
  return { dir: snapshot, commit, files: plan.map((r) => r.file), bytesDownloaded: bytes };
}

/**
 * Fetches one GGUF file named by id (`org/name[@revision]:file.gguf`) into the cache, as {@link downloadModel} fetches a
 * model's files. A quantization label (`:Q4_0`) names no file until the repository's file list is known, which the
 * `resolve/` URLs alone do not give: it is refused (VALIDATION) asking for the file name.
 */
async function downloadGguf(model: string, gguf: GgufModelId, options: DownloadOptions): Promise<DownloadResult> {
  if (!gguf.tag.toLowerCase().endsWith(".gguf")) {
    throw new LlmError("VALIDATION",
      `model: "${model}" names a GGUF file by the label ${gguf.tag}, which is matched against the files already cached; to download it, name the file (${gguf.id.repo}:<file>.gguf)`,
      { field: "model" });
  }
  const hub = new HubClient(gguf.id, options);
  const folder = repoFolder(options.cacheDir ?? hubCacheDir(), gguf.id.repo);
  const found = await hub.head(gguf.tag, gguf.id.revision, true);
  const commit = found.commit ?? gguf.id.revision;
  const snapshot = join(folder, "snapshots", isCommitHash(gguf.id.revision) ? gguf.id.revision : commit);
  const total = found.remote.size ?? 0;
  const bytes = await new BlobStore(folder, snapshot).fetch(found.remote, hub, (done) => options.onProgress?.({ file: gguf.tag, done, total }));
  options.onProgress?.({ file: gguf.tag, done: total, total });
  if (!isCommitHash(gguf.id.revision)) {
    await mkdir(join(folder, "refs", dirname(gguf.id.revision)), { recursive: true });
    await writeFile(join(folder, "refs", gguf.id.revision), commit);
  }
  return { dir: join(snapshot, gguf.tag), commit, files: [gguf.tag], bytesDownloaded: bytes };
}

/** The shard files an index's weight_map names (each once, in order). */
function shardsOf(text: string, file: string, model: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(text) as { weight_map?: unknown }).weight_map;
  } catch {
    map = undefined;
  }
  if (typeof map !== "object" || map === null) throw new LlmError("MODEL_LOAD", `${model}: ${file} has no weight_map`, { file });
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  if (!shards.every((s): s is string => typeof s === "string" && /^[\w.-]+$/.test(s))) {
    throw new LlmError("MODEL_LOAD", `${model}: ${file} names a shard that is not a plain file name`, { file });
  }
  return shards;
}

/** Requests to one model's files on the endpoint. */
class HubClient {
  readonly name: string;
  readonly #endpoint: string;
  readonly #headers: Record<string, string>;

  constructor(readonly id: ModelId, readonly options: DownloadOptions) {
    this.name = formatModelId(id);
    this.#endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
    const token = options.token ?? process.env.HF_TOKEN;
    this.#headers = token ? { authorization: `Bearer ${token}` } : {};
  }

  /** The URL of `file` at `revision`. */
  url(file: string, revision: string): string {
    return `${this.#endpoint}/${this.id.repo}/resolve/${encodeURIComponent(revision)}/${file}`;
  }

  /**
   * A file's metadata and the commit it is at, or null when the repository lacks it (404) and it is optional; a
   * missing required one, an unknown model and a refused token are MODEL_LOAD naming the model (`why` adds a reason).
   */
  async head(file: string, revision: string, required: false): Promise<{ remote: Remote; commit: string | null } | null>;
  async head(file: string, revision: string, required: true, why?: string): Promise<{ remote: Remote; commit: string | null }>;
  async head(file: string, revision: string, required: boolean, why?: string): Promise<{ remote: Remote; commit: string | null } | null> {
    const url = this.url(file, revision);
    let at = url, commit: string | null = null;
    for (let hop = 0; hop < 5; hop++) {
      const response = await this.#request(at, { method: "HEAD", redirect: "manual" });
      const h = response.headers;
      commit ??= h.get("x-repo-commit");
      const linked = h.get("x-linked-etag");
      if (response.status >= 300 && response.status < 400 && linked === null) {
        const location = h.get("location");
        if (location === null) break;
        at = new URL(location, at).toString();                         // a renamed repository: follow, keep asking HEAD
        continue;
      }
      if (response.status === 404) {
        if (!required) return null;
        const what = file === "config.json" ? `the model ${this.name} was not found` : `the model ${this.name} has no ${file}`;
        throw new LlmError("MODEL_LOAD", `${what} at ${this.#endpoint} (404 for ${url})${why ? `: ${why}` : ""}`, { field: "model" });
      }
      if (response.status === 401 && h.get("x-error-code") === "RepoNotFound") {   // the Hub's answer for a missing (or private) repository
        throw new LlmError("MODEL_LOAD", `the model ${this.name} was not found at ${this.#endpoint} (or it is private: set HF_TOKEN)`, { field: "model" });
      }
      if (response.status === 401 || response.status === 403) {
        const hint = this.#headers.authorization ? "the token in HF_TOKEN was refused" : "it may be gated or private: set HF_TOKEN";
        throw new LlmError("MODEL_LOAD", `the model ${this.name} cannot be read at ${this.#endpoint} (${response.status}): ${hint}`, { field: "model" });
      }
      if (!response.ok && !(response.status >= 300 && response.status < 400)) {
        throw new LlmError("MODEL_LOAD", `the model ${this.name}: ${url} answered ${this.answer(response)}`, { field: "model" });
      }
      const etag = normalizeEtag(linked ?? h.get("etag")) ?? createHash("sha256").update(`${commit ?? revision}/${file}`).digest("hex");
      const size = Number(h.get("x-linked-size") ?? h.get("content-length") ?? NaN);
      return { remote: { file, url, etag, size: Number.isSafeInteger(size) && size >= 0 ? size : null }, commit };
    }
    throw new LlmError("MODEL_LOAD", `the model ${this.name}: ${url} redirects too often, or without a location`, { field: "model" });
  }

  /** GET `url`, from byte `from` on when it is above 0 (redirects followed: the content may live on a CDN). */
  get(url: string, from: number): Promise<Response> {
    return this.#request(url, { method: "GET", redirect: "follow", headers: from > 0 ? { range: `bytes=${from}-` } : {} });
  }

  /** Tries per request (and per transfer). */
  get attempts(): number {
    return this.options.attempts ?? 3;
  }

  /** `503 Service Unavailable`, with the number of tries when it was worth trying again. */
  answer(response: Response): string {
    return `${response.status} ${response.statusText}${retryable(response.status) ? ` (${this.attempts} tries)` : ""}`;
  }

  /** Waits after the `attempt`-th try: 0.5 s, 1 s, 2 s, … at most 8 s, or the server's Retry-After (seconds) within that. */
  backoff(attempt: number, retryAfter: string | null = null): Promise<void> {
    const asked = retryAfter === null || retryAfter.trim() === "" ? NaN : Number(retryAfter) * 1000;
    const ms = Number.isFinite(asked) && asked >= 0 ? asked : 500 * 2 ** (attempt - 1);
    return sleep(Math.min(ms, 8000), undefined, { signal: this.options.signal });
  }

  /** Fetches `url`, trying again after a pause on a 5xx or 429 answer and on a failed connection. */
  async #request(url: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, { ...init, headers: { ...this.#headers, ...init.headers }, signal: this.options.signal });
      } catch (cause) {
        if (this.options.signal?.aborted) throw cause;
        if (attempt < this.attempts) {
          await this.backoff(attempt);
          continue;
        }
        const why = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
        throw new LlmError("MODEL_LOAD", `the model ${this.name}: cannot reach ${url} (${why}; ${this.attempts} tries)`, { field: "model" }, { cause });
      }
      if (!retryable(response.status) || attempt >= this.attempts) return response;
      await response.body?.cancel();
      await this.backoff(attempt, response.headers.get("retry-after"));
    }
  }
}

/** The cache folder of one repository: blobs by ETag, and the snapshot that links them under their file names. */
class BlobStore {
  constructor(private readonly folder: string, private readonly snapshot: string) {}

  /**
   * Makes `remote.file` present in the snapshot: linked at once when its blob is cached whole, else fetched into
   * `<blob>.incomplete` (resumed from what an earlier try left) and checked. Returns the bytes transferred.
   */
  async fetch(remote: Remote, hub: HubClient, progress: (fileDone: number) => void): Promise<number> {
    const blob = join(this.folder, "blobs", remote.etag);
    const link = join(this.snapshot, remote.file);
    const cached = await sizeOf(blob);
    let transferred = 0;
    if (cached === null || (remote.size !== null && cached !== remote.size)) {
      await mkdir(dirname(blob), { recursive: true });
      transferred = await this.#transfer(remote, hub, `${blob}.incomplete`, progress);
      await rename(`${blob}.incomplete`, blob);
    }
    await mkdir(dirname(link), { recursive: true });
    await rm(link, { force: true });
    await symlink(relative(dirname(link), blob), link).catch(() => copyFile(blob, link));   // no symlinks (Windows): a copy
    return transferred;
  }

  /** Fetches the file into `partial`, resuming after interruptions, and checks its size; returns the bytes received. */
  async #transfer(remote: Remote, hub: HubClient, partial: string, progress: (fileDone: number) => void): Promise<number> {
    const attempts = hub.attempts;
    let received = 0;
    for (let attempt = 1; ; attempt++) {
      let have = (await sizeOf(partial)) ?? 0;
      if (remote.size !== null && have > remote.size) have = 0;         // longer than the file: start over
      const response = have === remote.size ? null : await hub.get(remote.url, have);
      if (response !== null && response.status !== 206 && response.status !== 200) {
        throw new LlmError("MODEL_LOAD", `the model ${hub.name}: ${remote.url} answered ${hub.answer(response)}`, { field: "model" });
      }
      const from = response?.status === 206 ? have : response === null ? have : 0;  // a 200 is the whole file: rewrite it
      try {
        if (response !== null) received += await writeBody(response, partial, from, progress);
      } catch (cause) {
        if (hub.options.signal?.aborted) throw cause;
        if (attempt < attempts) {
          await hub.backoff(attempt);
          continue;
        }
        const got = (await sizeOf(partial)) ?? 0;
        throw new LlmError("MODEL_LOAD",
          `the model ${hub.name}: the transfer of ${remote.file} was interrupted after ${got}${remote.size === null ? "" : ` of ${remote.size}`} bytes ` +
          `(${attempts} tries; run the download again to resume)`, { field: "model" }, { cause });
      }
      const size = (await sizeOf(partial)) ?? 0;
      if (remote.size !== null && size !== remote.size) {
        await rm(partial, { force: true });
        throw new LlmError("MODEL_LOAD", `the model ${hub.name}: ${remote.file} has ${size} bytes but the server announced ${remote.size}; the file was discarded`, { field: "model" });
      }
      return received;
    }
  }
}

/** Writes a response body into `path` from byte `from` (truncating there); reports the file's bytes as they come. */
async function writeBody(response: Response, path: string, from: number, progress: (fileDone: number) => void): Promise<number> {
  const file = await open(path, from > 0 ? "r+" : "w");
  let at = from;
  try {
    await file.truncate(from);
    if (response.body === null) return 0;
    for await (const chunk of response.body) {
      await file.write(chunk, 0, chunk.byteLength, at);
      at += chunk.byteLength;
      progress(at);
    }
  } finally {
    await file.close();
  }
  return at - from;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** Whether an answer is worth trying again: the server failed (5xx) or asks us to slow down (429). */
function retryable(status: number): boolean {
  return status >= 500 || status === 429;
}

/** An ETag without `W/` and quotes (the Hub's blob name), or null. */
function normalizeEtag(etag: string | null): string | null {
  if (etag === null) return null;
  const plain = etag.replace(/^W\//, "").replace(/^"|"$/g, "");
  return /^[\w.-]+$/.test(plain) ? plain : null;
}
