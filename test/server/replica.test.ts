/**
 * A server as one replica behind a load balancer or an orchestrator: on close /health turns 503 at once; during the
 * drain delay requests are still served; then new requests get 503 with Retry-After and Connection: close while the
 * ones that arrived before (running or queued) finish; /livez stays 200 throughout. `actorlm serve` checks its flags
 * before it binds (exit 2), and a model that cannot load leaves it up but unready, saying why.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CLI, REF, ROOT, runCli } from "../generation/helpers.js";
import { EMBEDDED_MODEL_DIR, post, sseData, startServer } from "./helpers.js";
import { connect, httpRequest, responsesIn } from "./raw-http.js";

const [P0] = REF.prompts;
const greedy = (maxTokens: number) => ({ prompt: P0.prompt, max_tokens: maxTokens, temperature: 0 });

/** GET `path`: status, headers and parsed body. */
async function get(url: string, path: string): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${url}${path}`);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** Resolves once `ok()` holds, asked again every 10 ms. */
async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ok())) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe("draining a replica (library)", () => {
  it("during the drain delay /health is 503 and requests are still served; a second signal ends the delay", async () => {
    const running = await startServer({ drainDelay: 600_000 });
    const { server, url } = running;
    expect(await get(url, "/livez")).toMatchObject({ status: 200, body: { status: "alive", phase: "serving" } });
    const closed = server.close(60_000);
    expect(server.phase).toBe("draining");

    const health = await get(url, "/health");
    expect(health.status).toBe(503);
    expect(health.headers.get("retry-after")).toBe("1");
    expect(health.body).toMatchObject({ code: "NOT_READY", error: "not ready: the server is shutting down", phase: "draining", models: { "kjv-llama": "ready" } });
    const served = await post(`${url}/v1/completions`, greedy(40));
    expect(served.status).toBe(200);
    expect(served.body.choices[0].text).toBe(P0.greedy_text);
    expect(await get(url, "/livez")).toMatchObject({ status: 200, body: { phase: "draining" } });

    server.cancelInFlight(); // as a second signal does: the drain delay ends now, and with nothing in flight it stops
    await closed;
    expect(server.phase).toBe("refusing");
    await expect(fetch(`${url}/livez`)).rejects.toThrow();
    await closed;
  });

  it("once refusing, the requests that arrived before — one streaming, others queued behind a full batch — all finish in full", async () => {
    const running = await startServer({ maxConcurrent: 1 });
    const { server, url } = running;
    const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...greedy(40), stream: true }) });
    const events = sseData(res);
    const first = (await events.next()).value as string;
    const queued = [post(`${url}/v1/completions`, greedy(40)), post(`${url}/generate`, { inputs: P0.prompt, parameters: { max_new_tokens: 40 } })];
    await until(async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return /actorlm_queue_size\{model="kjv-llama"\} 2/.test(text);
    });
    const closed = server.close(600_000);
    expect(server.phase).toBe("refusing");
    const late = await post(`${url}/v1/completions`, greedy(2));   // a new connection: still accepted, answered 503
    expect(late.status).toBe(503);
    expect(late.headers.get("retry-after")).toBe("1");
    expect((await get(url, "/livez")).status).toBe(200);

    const rest: string[] = [];
    for await (const data of events) rest.push(data);
    expect(rest.at(-1)).toBe("[DONE]");
    const streamed = [first, ...rest].filter((e) => e !== "[DONE]").map((e) => JSON.parse(e).choices[0]?.text ?? "").join("");
    expect(streamed).toBe(P0.greedy_text);
    const [openai, tgi] = await Promise.all(queued);
    expect(openai.status).toBe(200);
    expect(openai.body.choices[0].text).toBe(P0.greedy_text);
    expect(tgi.status).toBe(200);
    expect(tgi.body.generated_text).toBe(P0.greedy_text);
    await closed;
  });
});

interface Serving {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout + stderr match `re`. */
  printed(re: RegExp): Promise<void>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Starts `actorlm serve --port 0 …` (resolves at once: wait with printed()). */
function serve(args: string[]): Serving {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of waiters.filter((w) => w.re.test(out + err))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout!.setEncoding("utf8").on("data", (d: string) => ((out += d), check()));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => ((err += d), check()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const printed = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(out + err)) return resolve();
      waiters.push({ re, resolve });
      void exited.then((code) => reject(new Error(`serve exited (${code}) before printing ${re}: ${out}${err}`)));
    });
  return { child, stdout: () => out, stderr: () => err, printed, exited };
}

const urlOf = (s: Serving) => /serving(?: models)? at (http:\/\/127\.0\.0\.1:\d+)/.exec(s.stdout())![1];

describe("actorlm serve as a replica", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("--drain-delay: on SIGTERM /health turns 503 while requests are served; a second signal ends the delay; exit 0", async () => {
    const s = serve(["--drain-delay", "600000"]);
    await s.printed(/model kjv-llama ready/);
    const url = urlOf(s);
    s.child.kill("SIGTERM");
    await s.printed(/SIGTERM: shutting down; \/health answers 503, new requests are refused in 600000 ms/);
    expect((await get(url, "/health")).body).toMatchObject({ code: "NOT_READY", phase: "draining" });
    const served = await post(`${url}/v1/completions`, greedy(40));
    expect(served.body.choices[0].text).toBe(P0.greedy_text);
    expect((await get(url, "/livez")).status).toBe(200);
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(/POST \/v1\/completions 200 success model=kjv-llama tokens=4\+40 \d+ms\n[^]*stopped\n$/);
  });

  it("a bad flag exits 2 before binding: nothing listens, nothing loads", async () => {
    for (const [flags, message] of [
      [["--drain-delay", "-1"], /^actorlm: VALIDATION: drainDelay: must be an integer ≥ 0, got -1\n/],
      [["--threads", "0"], /^actorlm: VALIDATION: --threads: must be an integer ≥ 1, got 0\n/],
      [["--dtype", "float64"], /^actorlm: VALIDATION: --dtype: unknown data type "float64"/],
      [["--max-concurrent", "0"], /^actorlm: VALIDATION: maxConcurrent: must be an integer ≥ 1, got 0\n/],
      [["--model", "/nonexistent/model"], /^actorlm: VALIDATION: --model: "\/nonexistent\/model" is not a directory nor a Hugging Face id/],
    ] as const) {
      const run = await runCli(["serve", "--port", "0", ...flags]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe(""); // "serving at" is printed once it listens
    }
  });

  it("a model that cannot load: the replica stays up and unready, saying why on stderr and in /health; /livez 200", async () => {
    const dir = mkdtempSync(join(tmpdir(), "actorlm-unloadable-"));
    dirs.push(dir);
    for (const file of ["config.json", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(EMBEDDED_MODEL_DIR, file), join(dir, file));
    const s = serve(["--model", `broken=${dir}`]);
    await s.printed(/actorlm: model broken failed to load: MODEL_LOAD: [^\n]*model\.safetensors[^\n]*; \/health answers 503/);
    const url = urlOf(s);
    const health = await get(url, "/health");
    expect(health.status).toBe(503);
    expect(health.body.error).toMatch(/^not ready: broken failed to load: MODEL_LOAD: .*model\.safetensors/);
    expect(health.body.models).toEqual({ broken: "error" });
    expect(await get(url, "/livez")).toMatchObject({ status: 200, body: { status: "alive", models: { broken: "error" } } });
    expect((await post(`${url}/v1/completions`, greedy(2))).status).toBe(503);
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  });
});
