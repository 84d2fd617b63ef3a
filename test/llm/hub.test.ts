/**
 * Models by Hugging Face id: ids parsed, resolved from the local cache in huggingface_hub's layout, and fetched into it
 * from a real HTTP server on loopback that serves folders in the Hub's URL layout (test/llm/hub-server.ts) — the
 * standard cache layout written, files byte-identical, the token sent, sharded checkpoints, an interrupted transfer
 * resumed (in the same run, and in the next one), a 5xx answer tried again after a pause, a size that does not match
 * refused, and a missing model named.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JsKernels, SafetensorsFile } from "@actorlm/tensor";
import { downloadModel, type DownloadProgress } from "../../packages/llm/src/hub/download.js";
import { cachedSnapshot, hubCacheDir, resolveModelDir } from "../../packages/llm/src/hub/cache.js";
import { parseModelId } from "../../packages/llm/src/hub/model-id.js";
import { loadModel } from "../../packages/llm/src/models/registry.js";
import { session } from "../llm-model/helpers.js";
import { buildSafetensors, type Entry } from "../tensor/helpers.js";
import { COMMIT, FakeHub } from "./hub-server.js";

const ZOO = join(import.meta.dirname, "../fixtures/models");
const tmp = mkdtempSync(join(tmpdir(), "actorlm-hub-"));
let cacheCount = 0;
/** A fresh, empty cache folder. */
const freshCache = () => join(tmp, `cache-${++cacheCount}`);

/** zoo-gpt2 rewritten as two safetensors shards and an index. */
async function shardedCopy(): Promise<string> {
  const dir = join(tmp, "sharded");
  mkdirSync(dir);
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) symlinkSync(join(ZOO, "zoo-gpt2", f), join(dir, f));
  const file = await SafetensorsFile.open(join(ZOO, "zoo-gpt2", "model.safetensors"));
  const entries: Entry[] = file.names.map((name) => {
    const t = file.tensor(name);
    return { name, dtype: t.dtype, shape: [...t.shape], bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  });
  file.close();
  const half = Math.ceil(entries.length / 2);
  const shards = [entries.slice(0, half), entries.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((list, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    writeFileSync(join(dir, name), buildSafetensors(list));
    for (const e of list) weightMap[e.name] = name;
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return dir;
}

let hub: FakeHub;
beforeAll(async () => {
  hub = await FakeHub.start({ "kjv/zoo-qwen3": join(ZOO, "zoo-qwen3"), "kjv/zoo-gemma3": join(ZOO, "zoo-gemma3"), "kjv/sharded-gpt2": await shardedCopy() });
});
afterAll(async () => {
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("model ids", () => {
  it("org/name with an optional @revision; anything else is not an id", () => {
    expect(parseModelId("Qwen/Qwen3-0.6B")).toEqual({ repo: "Qwen/Qwen3-0.6B", revision: "main" });
    expect(parseModelId("google/gemma-3-1b-it@refs/pr/3")).toEqual({ repo: "google/gemma-3-1b-it", revision: "refs/pr/3" });
    for (const bad of ["gpt2", "/abs/path", "./models/x", "a/b/c", "a--b/c", "org/na..me", "org/name@", "org/name@x y"]) expect(parseModelId(bad), bad).toBeNull();
  });

  it("the cache folder follows HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" })).toBe("/a");
    expect(hubCacheDir({ HF_HOME: "/b" })).toBe("/b/hub");
    expect(hubCacheDir({ XDG_CACHE_HOME: "/c" })).toBe("/c/huggingface/hub");
    expect(hubCacheDir({})).toMatch(/\.cache\/huggingface\/hub$/);
  });

  it("a directory is itself; an id not in the cache is refused naming it and how to fetch it, touching no network", () => {
    expect(resolveModelDir(join(ZOO, "zoo-qwen3"), freshCache())).toBe(join(ZOO, "zoo-qwen3"));
    const before = hub.requests.length;
    let caught: unknown;
    try {
      resolveModelDir("kjv/zoo-qwen3", freshCache());
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: "MODEL_LOAD", field: "model" });
    expect((caught as Error).message).toContain("kjv/zoo-qwen3");
    expect((caught as Error).message).toContain("actorlm download kjv/zoo-qwen3");
    expect(hub.requests.length).toBe(before);
    expect(resolveModelDir("/no/such/dir", freshCache())).toBe("/no/such/dir"); // not an id: loading names config.json
  });
});

describe("downloading into the cache", () => {
  it("writes huggingface_hub's layout (refs, snapshots linking blobs), byte-identical files, and sends HF_TOKEN", async () => {
    const cacheDir = freshCache();
    const progress: DownloadProgress[] = [];
    const result = await downloadModel("kjv/zoo-qwen3", { endpoint: hub.url, cacheDir, token: "hf_secret", onProgress: (p) => progress.push(p) });
    const folder = join(cacheDir, "models--kjv--zoo-qwen3");
    expect(result.dir).toBe(join(folder, "snapshots", COMMIT));
    expect(result.commit).toBe(COMMIT);
    expect(readFileSync(join(folder, "refs", "main"), "utf8")).toBe(COMMIT);
    expect(result.files).toEqual(["config.json", "tokenizer.json", "model.safetensors", "tokenizer_config.json", "generation_config.json"]);
    for (const f of result.files) {
      const link = join(result.dir, f);
      expect(lstatSync(link).isSymbolicLink(), f).toBe(true);
      expect(readlinkSync(link)).toMatch(/^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
      expect(readFileSync(link).equals(readFileSync(join(ZOO, "zoo-qwen3", f))), f).toBe(true);
    }
    expect(result.bytesDownloaded).toBe(result.files.reduce((n, f) => n + statSync(join(ZOO, "zoo-qwen3", f)).size, 0));
    expect(progress.at(-1)).toMatchObject({ done: result.bytesDownloaded, total: result.bytesDownloaded });
    expect(hub.requests.filter((r) => r.path.includes("zoo-qwen3")).every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    expect(cachedSnapshot({ repo: "kjv/zoo-qwen3", revision: "main" }, cacheDir)).toBe(result.dir);
    expect(resolveModelDir("kjv/zoo-qwen3", cacheDir)).toBe(result.dir);
    expect(resolveModelDir(`kjv/zoo-qwen3@${COMMIT}`, cacheDir)).toBe(result.dir);

    // a second download fetches nothing: HEAD requests only
    const gets = hub.requests.filter((r) => r.method === "GET").length;
    expect((await downloadModel("kjv/zoo-qwen3", { endpoint: hub.url, cacheDir })).bytesDownloaded).toBe(0);
    expect(hub.requests.filter((r) => r.method === "GET").length).toBe(gets);
  });

  it("a sharded checkpoint: the index and each shard, and the model loads from the snapshot", async () => {
    const cacheDir = freshCache();
    const result = await downloadModel("kjv/sharded-gpt2@main", { endpoint: hub.url, cacheDir });
    expect(result.files.slice(2, 5)).toEqual(["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    const ids = [0, 1144, 260, 2092];
    const logits = async (dir: string) => {
      const { model } = await loadModel(dir, { kernels: new JsKernels(), kvCacheTokens: 32 });
      return session(model, 8).forward(ids);
    };
    expect(await logits(resolveModelDir("kjv/sharded-gpt2", cacheDir))).toEqual(await logits(join(ZOO, "zoo-gpt2")));
  });

  it("an interrupted transfer is resumed with a Range request in the same run", async () => {
    const cacheDir = freshCache();
    hub.cuts.set("model.safetensors", { times: 1, after: 300_000 });
    const before = hub.gets("model.safetensors").length;
    const result = await downloadModel("kjv/zoo-gemma3", { endpoint: hub.url, cacheDir });
    const gets = hub.gets("model.safetensors").slice(before).filter((r) => r.path.startsWith("/kjv/"));
    expect(gets.map((r) => r.range)).toHaveLength(2);
    expect(gets[0].range).toBeUndefined();
    // resumed from what arrived before the cut (all 300000 bytes, unless the connection lost some in flight)
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(300_000);
    expect(readFileSync(join(result.dir, "model.safetensors")).equals(readFileSync(join(ZOO, "zoo-gemma3", "model.safetensors")))).toBe(true);
  });

  it("a transfer interrupted on every try fails naming the file and keeps the part; the next run resumes it", async () => {
    const cacheDir = freshCache();
    hub.cuts.set("model.safetensors", { times: 2, after: 250_000 });
    const error = await downloadModel("kjv/zoo-gemma3", { endpoint: hub.url, cacheDir, attempts: 2 }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "MODEL_LOAD" });
    const message = /kjv\/zoo-gemma3.*model\.safetensors was interrupted after (\d+) of \d+ bytes.*run the download again to resume/.exec((error as Error).message);
    expect(message, (error as Error).message).not.toBeNull();
    const kept = Number(message![1]);
    expect(kept).toBeGreaterThan(250_000);                             // the second try added to the first one's part
    expect(kept).toBeLessThanOrEqual(500_000);
    const blobs = join(cacheDir, "models--kjv--zoo-gemma3", "blobs");
    const partial = readFileSync(join(blobs, readdirSync(blobs).find((f) => f.endsWith(".incomplete"))!));
    expect(partial.length).toBe(kept);
    expect(cachedSnapshot({ repo: "kjv/zoo-gemma3", revision: "main" }, cacheDir)).toBeNull();   // refs not written yet

    const before = hub.gets("model.safetensors").length;
    const result = await downloadModel("kjv/zoo-gemma3", { endpoint: hub.url, cacheDir });
    expect(hub.gets("model.safetensors").slice(before).filter((r) => r.path.startsWith("/kjv/")).map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(readFileSync(join(result.dir, "model.safetensors")).equals(readFileSync(join(ZOO, "zoo-gemma3", "model.safetensors")))).toBe(true);
    expect(readdirSync(blobs).some((f) => f.endsWith(".incomplete"))).toBe(false);
  });

  it("a 5xx answer, to a HEAD or a GET, is tried again after a pause and the download completes", async () => {
    const cacheDir = freshCache();
    hub.failures.set("config.json", { times: 1, status: 503 });
    hub.failures.set("model.safetensors", { times: 2, status: 502, method: "GET" });
    const heads = hub.requests.filter((r) => r.method === "HEAD" && r.path.endsWith("/config.json")).length;
    const gets = () => hub.gets("model.safetensors").filter((r) => r.path.includes("/resolve/")).length;
    const getsBefore = gets();
    const result = await downloadModel("kjv/zoo-qwen3", { endpoint: hub.url, cacheDir });
    expect(hub.requests.filter((r) => r.method === "HEAD" && r.path.endsWith("/config.json")).length - heads).toBe(2);
    expect(gets() - getsBefore).toBe(3);                              // two 502s, then the redirect to the content
    for (const f of result.files) expect(readFileSync(join(result.dir, f)).equals(readFileSync(join(ZOO, "zoo-qwen3", f))), f).toBe(true);
  });

  it("a 5xx on every try fails naming the status and the number of tries, nothing linked", async () => {
    const cacheDir = freshCache();
    hub.failures.set("tokenizer.json", { times: 2, status: 503 });
    const error = await downloadModel("kjv/zoo-qwen3", { endpoint: hub.url, cacheDir, attempts: 2 }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "MODEL_LOAD", field: "model" });
    expect((error as Error).message).toMatch(/kjv\/zoo-qwen3: .*\/tokenizer\.json answered 503 Service Unavailable \(2 tries\)/);
    expect(cachedSnapshot({ repo: "kjv/zoo-qwen3", revision: "main" }, cacheDir)).toBeNull();
  });

  it("a file whose size is not the announced one is refused and discarded", async () => {
    const cacheDir = freshCache();
    hub.lies.set("tokenizer.json", 10);
    try {
      const error = await downloadModel("kjv/zoo-qwen3", { endpoint: hub.url, cacheDir, attempts: 1 }).catch((e: Error) => e);
      expect(error).toMatchObject({ code: "MODEL_LOAD" });
      expect((error as Error).message).toContain("tokenizer.json");
      expect((error as Error).message).toMatch(/has \d+ bytes but the server announced \d+/);
    } finally {
      hub.lies.delete("tokenizer.json");
    }
  });

  it("a model the endpoint does not have: a 404, refused naming the id, nothing written", async () => {
    const cacheDir = freshCache();
    const error = await downloadModel("kjv/no-such-model", { endpoint: hub.url, cacheDir }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "MODEL_LOAD", field: "model" });
    expect((error as Error).message).toContain("the model kjv/no-such-model was not found");
    expect((error as Error).message).toContain("404");
    expect(existsSync(cacheDir)).toBe(false);
    const revision = await downloadModel("kjv/zoo-qwen3@v9", { endpoint: hub.url, cacheDir }).catch((e: Error) => e);
    expect((revision as Error).message).toContain("kjv/zoo-qwen3@v9");
  });

  it("an endpoint that does not answer: refused naming the model and the URL", async () => {
    const error = await downloadModel("kjv/zoo-qwen3", { endpoint: "http://127.0.0.1:9", cacheDir: freshCache() }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: "MODEL_LOAD" });
    expect((error as Error).message).toContain("cannot reach http://127.0.0.1:9/kjv/zoo-qwen3/resolve/main/config.json");
  });

  it("a string that is not an id is a VALIDATION error naming it", async () => {
    await expect(downloadModel("not an id")).rejects.toMatchObject({ code: "VALIDATION", field: "model" });
  });
});
