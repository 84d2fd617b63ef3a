/**
 * GGUF files named by Hugging Face id (`org/name[@revision]:TAG`), resolved from a Hugging Face cache laid out as
 * huggingface_hub writes it: a quantization label matched case-insensitively as a whole word (Q4_K does not match
 * Q4_K_M), or a file name; a missing repository, revision or file, and an ambiguous label, refused with MODEL_LOAD
 * naming what is cached. A cached id loads through LlamaModel like a path. A file named by id downloads into the cache
 * from a loopback stand-in for the Hub (test/llm/hub-server.ts).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LlamaModel } from "@actorlm/llm";
import { parseGgufModelId } from "../../packages/llm/src/hub/gguf-id.js";
import { resolveModelDir } from "../../packages/llm/src/hub/cache.js";
import { downloadModel } from "../../packages/llm/src/hub/download.js";
import { COMMIT as HUB_COMMIT, FakeHub } from "../llm/hub-server.js";
import { MODEL } from "../generation/helpers.js";
import { convertLlama } from "./writer.js";

const cache = mkdtempSync(join(tmpdir(), "actorlm-gguf-cache-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const snapshot = join(cache, "models--org--tiny-GGUF", "snapshots", COMMIT);

beforeAll(async () => {
  mkdirSync(snapshot, { recursive: true });
  mkdirSync(join(cache, "models--org--tiny-GGUF", "refs"), { recursive: true });
  writeFileSync(join(cache, "models--org--tiny-GGUF", "refs", "main"), COMMIT);
  await convertLlama(MODEL, join(snapshot, "tiny-Q4_0.gguf"), { matrices: "Q4_0" });
  for (const name of ["tiny-Q4_K_M.gguf", "tiny-Q4_K_S.gguf", "tiny.Q8_0.gguf"]) copyFileSync(join(snapshot, "tiny-Q4_0.gguf"), join(snapshot, name));
});

function refusal(model: string): Error & { code: string; field?: string } {
  try {
    resolveModelDir(model, cache);
  } catch (e) {
    return e as Error & { code: string; field?: string };
  }
  throw new Error(`${model} resolved`);
}

describe("GGUF files by Hugging Face id", () => {
  it("parses org/name[@revision]:TAG and leaves plain ids and paths alone", () => {
    expect(parseGgufModelId("org/tiny-GGUF:Q4_0")).toEqual({ id: { repo: "org/tiny-GGUF", revision: "main" }, tag: "Q4_0" });
    expect(parseGgufModelId("org/tiny-GGUF@v1:tiny.Q8_0.gguf")).toEqual({ id: { repo: "org/tiny-GGUF", revision: "v1" }, tag: "tiny.Q8_0.gguf" });
    expect(parseGgufModelId("org/tiny-GGUF")).toBeNull();
    expect(parseGgufModelId("/models/a:b")).toBeNull();
    expect(parseGgufModelId("org/tiny:../x")).toBeNull();
  });

  it("resolves a quantization label (any case, whole word) or a file name to the cached file", () => {
    expect(resolveModelDir("org/tiny-GGUF:Q4_0", cache)).toBe(join(snapshot, "tiny-Q4_0.gguf"));
    expect(resolveModelDir("org/tiny-GGUF:q4_k_m", cache)).toBe(join(snapshot, "tiny-Q4_K_M.gguf"));
    expect(resolveModelDir("org/tiny-GGUF:Q8_0", cache)).toBe(join(snapshot, "tiny.Q8_0.gguf"));
    expect(resolveModelDir(`org/tiny-GGUF@${COMMIT}:tiny-Q4_K_S.gguf`, cache)).toBe(join(snapshot, "tiny-Q4_K_S.gguf"));
  });

  it("refuses a label no file or several files match, and a repository or revision not cached", () => {
    const none = refusal("org/tiny-GGUF:Q5_0");
    expect(none.code).toBe("MODEL_LOAD");
    expect(none.field).toBe("model");
    expect(none.message).toMatch(/no cached \.gguf file of org\/tiny-GGUF matches "Q5_0" \(cached: .*tiny-Q4_0\.gguf/);
    expect(refusal("org/tiny-GGUF:Q4_K").message).toMatch(/no cached/);            // Q4_K_M and Q4_K_S are other labels
    copyFileSync(join(snapshot, "tiny-Q4_0.gguf"), join(snapshot, "tiny-v2-Q4_0.gguf"));
    expect(refusal("org/tiny-GGUF:Q4_0").message).toMatch(/more than one cached \.gguf file/);
    rmSync(join(snapshot, "tiny-v2-Q4_0.gguf"));
    expect(refusal("org/other-GGUF:Q4_0").message).toMatch(/not in the local cache .*huggingface-cli download org\/other-GGUF/);
    expect(refusal("org/tiny-GGUF@v9:Q4_0").message).toMatch(/org\/tiny-GGUF@v9 is not in the local cache/);
  });

  it("a cached id loads through LlamaModel (in-process), reporting the file and its tensor types", async () => {
    const before = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      const model = await LlamaModel.load({ model: "org/tiny-GGUF:Q4_0", backend: "js" });
      const info = model.info();
      expect(info.model).toBe(join(snapshot, "tiny-Q4_0.gguf"));
      expect(info.dtype).toBe("q4");
      expect(info.gguf).toEqual({ architecture: "llama", tensorTypes: { Q4_0: 43 } });
    } finally {
      if (before === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = before;
    }
  });
});

describe("downloading a GGUF file by id", () => {
  let hub: FakeHub;
  let served: string;
  beforeAll(async () => {
    served = mkdtempSync(join(tmpdir(), "actorlm-gguf-served-"));
    copyFileSync(join(snapshot, "tiny-Q4_0.gguf"), join(served, "tiny-Q4_0.gguf"));
    hub = await FakeHub.start({ "org/tiny-GGUF": served });
  });
  afterAll(async () => {
    await hub.close();
    rmSync(served, { recursive: true, force: true });
  });

  it("fetches the named file into the cache (LFS redirect, refs, snapshot link); the label then resolves to it", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "actorlm-gguf-dl-"));
    try {
      const result = await downloadModel("org/tiny-GGUF:tiny-Q4_0.gguf", { endpoint: hub.url, cacheDir });
      const folder = join(cacheDir, "models--org--tiny-GGUF");
      expect(result.dir).toBe(join(folder, "snapshots", HUB_COMMIT, "tiny-Q4_0.gguf"));
      expect(readFileSync(join(folder, "refs", "main"), "utf8")).toBe(HUB_COMMIT);
      expect(readFileSync(result.dir).equals(readFileSync(join(served, "tiny-Q4_0.gguf")))).toBe(true);
      expect(result.bytesDownloaded).toBe(statSync(join(served, "tiny-Q4_0.gguf")).size);
      expect(resolveModelDir("org/tiny-GGUF:Q4_0", cacheDir)).toBe(result.dir);
      expect((await downloadModel("org/tiny-GGUF:tiny-Q4_0.gguf", { endpoint: hub.url, cacheDir })).bytesDownloaded).toBe(0);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it("a label cannot be downloaded (VALIDATION asking for the file name); a missing file is MODEL_LOAD naming it", async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), "actorlm-gguf-dl-"));
    try {
      const label = await downloadModel("org/tiny-GGUF:Q4_0", { endpoint: hub.url, cacheDir }).catch((e: unknown) => e as Error & { code: string });
      expect(label).toMatchObject({ code: "VALIDATION", field: "model" });
      expect((label as Error).message).toMatch(/name the file \(org\/tiny-GGUF:<file>\.gguf\)/);
      const missing = await downloadModel("org/tiny-GGUF:tiny-Q8_0.gguf", { endpoint: hub.url, cacheDir }).catch((e: unknown) => e as Error & { code: string });
      expect(missing).toMatchObject({ code: "MODEL_LOAD" });
      expect((missing as Error).message).toMatch(/org\/tiny-GGUF has no tiny-Q8_0\.gguf/);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
