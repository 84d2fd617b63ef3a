/**
 * `actorlm serve` as a real process: prints its URL, serves several --model flags by name, logs one line per
 * request, and on SIGTERM stops accepting, lets the in-flight stream finish (or cancels it after the grace period
 * or on a second signal) and exits 0.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, REF, ROOT, spawnCliOnPty } from "../generation/helpers.js";
import { EMBEDDED_MODEL_DIR, metric, post, sseData } from "./helpers.js";
import { connect, httpRequest, responsesIn } from "./raw-http.js";

interface Serving {
  child: ChildProcess;
  url: string;
  /** Everything printed to stdout so far. */
  stdout(): string;
  /** Resolves when stdout matches `re`. */
  printed(re: RegExp): Promise<void>;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** Starts `actorlm serve --port 0 …` and resolves once every model is ready. */
async function serve(args: string[], models = 1): Promise<Serving> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (const w of waiters.filter((w) => w.re.test(out))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const printed = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(out)) return resolve();
      waiters.push({ re, resolve });
      void exited.then((code) => reject(new Error(`serve exited (${code}) before printing ${re}: ${out}${err}`)));
    });
  await printed(new RegExp(`(model \\S+ ready[^\\n]*\\n[^]*){${models}}`));
  const url = /serving(?: models)? at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  expect(url, out).toBeDefined();
  return { child, url: url!, stdout: () => out, printed, exited };
}

const [P0] = REF.prompts;
const body = (extra: Record<string, unknown>) => JSON.stringify({ prompt: P0.prompt, temperature: 0, stream: true, ...extra });

/** Starts a stream and resolves with its remaining events once the first arrived. */
async function startStream(url: string, extra: Record<string, unknown>): Promise<{ first: string; rest: Promise<string[]> }> {
  const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(extra) });
  const events = sseData(res);
  const first = (await events.next()).value as string;
  const rest = (async () => {
    const all: string[] = [];
    for await (const data of events) all.push(data);
    return all;
  })();
  return { first, rest };
}

const textOf = (events: string[]) =>
  events.filter((e) => e !== "[DONE]").map((e) => (JSON.parse(e) as { choices: { text: string }[] }).choices[0]?.text ?? "").join("");

describe("actorlm serve", () => {
  it("serves two named models, logs each request, and on SIGTERM lets the in-flight stream finish, then exits 0", async () => {
    const s = await serve(["--model", `kjv=${EMBEDDED_MODEL_DIR}`, "--model", `bible=${EMBEDDED_MODEL_DIR}`], 2);
    const models = (await (await fetch(`${s.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["kjv", "bible"]);
    const health = (await (await fetch(`${s.url}/health`)).json()) as { models: Record<string, string> };
    expect(health.models).toEqual({ kjv: "ready", bible: "ready" });
    const other = await post(`${s.url}/v1/completions`, { model: "bible", prompt: P0.prompt, max_tokens: 3, temperature: 0 });
    expect(other.body.model).toBe("bible");
    await s.printed(/POST \/v1\/completions 200 success model=bible tokens=4\+3 \d+ms\n/);

    const stream = await startStream(s.url, { model: "kjv", max_tokens: 40 });
    s.child.kill("SIGTERM");
    await s.printed(/SIGTERM: shutting down/);
    const late = await fetch(`${s.url}/health`).then((r) => r.status, (e: Error) => e.cause ?? e);
    if (typeof late === "number") expect(late).toBe(503);
    else expect(String((late as { code?: string }).code ?? late)).toMatch(/ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET/);
    const rest = await stream.rest;
    expect(rest.at(-1)).toBe("[DONE]");
    expect(textOf([stream.first, ...rest])).toBe(P0.greedy_text);
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(/POST \/v1\/completions 200 success model=kjv tokens=4\+40 \d+ms\nstopped\n$/);
  });

  it("pipelined requests on a connection that closes are cancelled and logged at once: SIGTERM has nothing left to wait for", async () => {
    // the connection flags reach the server: a connection that sends no headers within 300 ms gets 408
    const s = await serve(["--max-concurrent", "2", "--shutdown-grace", "600000", "--headers-timeout", "300", "--request-timeout", "20000", "--keep-alive-timeout", "5000", "--max-connections", "64"]);
    const idle = await connect(s.url);
    await idle.closed;
    expect(responsesIn(idle.data())[0].status).toBe(408);

    const client = await connect(s.url);
    client.socket.write(Array.from({ length: 9 }, (_, i) => httpRequest("POST", "/v1/completions", { prompt: P0.prompt, max_tokens: 600, temperature: 0, stream: i % 2 === 0 })).join(""));
    for (;;) {
      const text = await (await fetch(`${s.url}/metrics`)).text();
      if (metric(text, "actorlm_active_sequences", { model: "kjv-llama" }) === 2 && metric(text, "actorlm_queue_size", { model: "kjv-llama" }) === 7) break;
    }
    client.socket.destroy();
    await s.printed(/(POST \/v1\/completions 200 cancelled model=kjv-llama[^\n]*\n[^]*){9}/);
    s.child.kill("SIGTERM"); // with a 600 s grace period: it exits now only because nothing is in flight
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(/stopped\n$/);
  });

  it("a second signal cancels in-flight streams (an SSE error event) and still exits 0", async () => {
    const s = await serve([]);
    const stream = await startStream(s.url, { max_tokens: 600 });
    s.child.kill("SIGTERM");
    await s.printed(/SIGTERM: shutting down/);
    s.child.kill("SIGINT");
    const rest = await stream.rest;
    expect(JSON.parse(rest.at(-1)!)).toMatchObject({ error: { code: "NOT_READY", message: "the server is shutting down" } });
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toMatch(/POST \/v1\/completions 200 not_ready model=kjv-llama tokens=4\+\d+ \d+ms\n/);
  });

  it("the grace period over, in-flight streams are cancelled and it exits 0", async () => {
    const s = await serve(["--shutdown-grace", "200"]);
    const stream = await startStream(s.url, { max_tokens: 600 });
    s.child.kill("SIGTERM");
    const rest = await stream.rest;
    expect(JSON.parse(rest.at(-1)!).error.code).toBe("NOT_READY");
    expect(textOf([stream.first, ...rest.slice(0, -1)]).length).toBeGreaterThan(0);
    expect(await s.exited).toBe(0);
  });

  it("on a terminal, shows a progress bar per model while loading, then stops on SIGINT (Ctrl-C) with exit 0", async () => {
    // on a pseudo-terminal, Ctrl-C typed there is SIGINT for the server
    const child = spawnCliOnPty(["serve", "--port", "0", "--model", `first=${EMBEDDED_MODEL_DIR}`, "--model", `second=${EMBEDDED_MODEL_DIR}`]);
    children.push(child);
    let out = "";
    const ready = new Promise<void>((resolve) =>
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (/model second ready/.test(out)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await Promise.race([ready, exited]);
    const text = out.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, "");
    expect(text).toMatch(/loading first \[[^\]]+\] [^\n]*100% \| done in [\d.]+ s\r?\n[^]*model first ready[^]*loading second \[[^\]]+\] [^\n]*100% \| done in [\d.]+ s\r?\n[^]*model second ready/);
    for (const name of ["first", "second"]) expect(text.split("\n").filter((line) => line.includes(`loading ${name} [`))).toHaveLength(1);   // one bar each
    child.stdin.write("\x03");
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGINT: shutting down[^]*stopped/);
  });
});
