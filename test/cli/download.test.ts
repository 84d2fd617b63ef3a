/**
 * Models by Hugging Face id on the command line, against a local Hub on loopback (HF_ENDPOINT) and a temporary cache
 * (HF_HUB_CACHE): `actorlm download ID` (a progress bar on a terminal, the snapshot folder on stdout), `--model ID`
 * from the cache, nothing fetched without --download, `--download` fetching once, and a missing model named.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, spawnCliOnPty } from "../generation/helpers.js";
import { COMMIT, FakeHub } from "../llm/hub-server.js";

const ZOO = join(ROOT, "test/fixtures/models");
const REF = (arch: string) => JSON.parse(readFileSync(join(ROOT, `test/fixtures/zoo-${arch}.json`), "utf8")) as { prompts: { prompt: string; greedy_ids: number[]; greedy_text: string }[] };
const tmp = mkdtempSync(join(tmpdir(), "actorlm-download-"));
let hub: FakeHub;
let caches = 0;

beforeAll(async () => {
  hub = await FakeHub.start({ "kjv/zoo-gemma3": join(ZOO, "zoo-gemma3"), "kjv/zoo-phi3": join(ZOO, "zoo-phi3") });
});
afterAll(async () => {
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The environment of a run: the local hub, a cache folder, and (optionally) a token. */
function env(cache: string, token?: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache };
  delete out.HF_TOKEN;
  if (token !== undefined) out.HF_TOKEN = token;
  return out;
}

/** Runs the CLI; never rejects. */
const cli = (environment: NodeJS.ProcessEnv, ...args: string[]) => runCli(args, { env: environment });

const greedy = (model: string, ...extra: string[]) =>
  ["generate", "--model", model, "--prompt", REF("gemma3").prompts[0].prompt, "--max-tokens", "40", "--temperature", "0", "--json", ...extra];

describe("actorlm download and --model ID", () => {
  it("download fetches into HF_HUB_CACHE (sending HF_TOKEN) and prints the snapshot; generate --model ID then runs from the cache", async () => {
    const cache = join(tmp, `cache-${++caches}`);
    const run = await cli(env(cache, "hf_cli"), "download", "kjv/zoo-gemma3");
    expect(run.code, run.stderr).toBe(0);
    const snapshot = join(cache, "models--kjv--zoo-gemma3", "snapshots", COMMIT);
    expect(run.stdout).toBe(`${snapshot}\n`);
    expect(run.stderr).toMatch(/kjv\/zoo-gemma3: 5 files, [\d.]+ MB fetched into /);
    expect(hub.requests.filter((r) => r.path.startsWith("/kjv/zoo-gemma3")).every((r) => r.authorization === "Bearer hf_cli")).toBe(true);

    const before = hub.requests.length;
    const out = await cli(env(cache), ...greedy("kjv/zoo-gemma3"));
    expect(out.code, out.stderr).toBe(0);
    const json = JSON.parse(out.stdout) as { ids: number[]; text: string };
    expect(json.ids).toEqual(REF("gemma3").prompts[0].greedy_ids);
    expect(json.text).toBe(REF("gemma3").prompts[0].greedy_text);
    expect(hub.requests.length).toBe(before);                 // from the cache: no request at all
  });

  it("--model ID not in the cache fails naming it, without a request; --download fetches it once, then runs offline", async () => {
    const cache = join(tmp, `cache-${++caches}`);
    const before = hub.requests.length;
    const missing = await cli(env(cache), ...greedy("kjv/zoo-phi3"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("MODEL_LOAD");
    expect(missing.stderr).toContain("kjv/zoo-phi3");
    expect(missing.stderr).toContain("actorlm download kjv/zoo-phi3");
    expect(hub.requests.length).toBe(before);                 // nothing downloads unless asked

    const fetched = await cli(env(cache), ...greedy("kjv/zoo-phi3", "--download"));
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((JSON.parse(fetched.stdout) as { ids: number[] }).ids).toEqual(REF("phi3").prompts[0].greedy_ids);
    const after = hub.requests.length;
    expect(after).toBeGreaterThan(before);
    const again = await cli(env(cache), ...greedy("kjv/zoo-phi3", "--download"));
    expect(again.code, again.stderr).toBe(0);
    expect(hub.requests.length).toBe(after);                  // cached: --download asks nothing more
  });

  it("download of a model the endpoint does not have: exit 1, MODEL_LOAD naming the id", async () => {
    const run = await cli(env(join(tmp, `cache-${++caches}`)), "download", "kjv/nothing-here");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^actorlm: MODEL_LOAD: the model kjv\/nothing-here was not found at http:\/\/127\.0\.0\.1:\d+ \(404/);
  });

  it("on a terminal, download shows a progress bar", async () => {
    const cache = join(tmp, `cache-${++caches}`);
    const child = spawnCliOnPty(["download", "kjv/zoo-phi3"], { env: env(cache) });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, output).toBe(0);
    expect(output).toMatch(/downloading kjv\/zoo-phi3 \[[█░]+\] 100%/);
    expect(output).toContain(join(cache, "models--kjv--zoo-phi3", "snapshots", COMMIT));
  });
});
