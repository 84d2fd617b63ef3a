// What conversation affinity buys with prefix caching: three `actorlm serve` replicas (the embedded model, one
// thread each) behind HAProxy running deploy/haproxy/haproxy.cfg; C conversations of T chat turns each (every turn
// resends the whole history, greedy 32-token replies, streamed), run once with the OpenAI `user` field (HAProxy
// sticks each conversation to one replica) and once without it (least connections), on fresh replicas each time.
// Reports the share of prompt tokens found in the replicas' prefix caches (their /metrics) and the client-side time
// to first token of turns 2..T (p50 / p90). Prints numbers; asserts nothing. Needs haproxy on PATH.
//   node --import tsx bench/affinity.ts [--conversations 12] [--turns 8]
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const ROOT = join(import.meta.dirname, "..");
const CLI = join(ROOT, "packages/server/dist/cli.js");
const { values: flags } = parseArgs({ options: { conversations: { type: "string", default: "12" }, turns: { type: "string", default: "8" } } });
const conversations = Number(flags.conversations);
const turns = Number(flags.turns);
const openers = ["In the beginning", "And God said, Let there be", "Blessed are the", "The LORD is my shepherd", "And it came to pass", "Jesus wept."];

/** Starts `command args`, resolving with the child once a line of its output matches `ready` (and that output). */
function start(command: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const seen = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) resolve({ child, out });
    };
    child.stdout!.on("data", seen);
    child.stderr!.on("data", seen);
    child.on("exit", (code) => reject(new Error(`${command} exited (${code}): ${out}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One conversation of `turns` turns through the balancer; resolves with each later turn's time to first token. */
async function conversation(lb: string, id: number, sticky: boolean): Promise<number[]> {
  const messages: { role: string; content: string }[] = [];
  const ttft: number[] = [];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: t === 0 ? `${openers[id % openers.length]} (${id})` : `And then, ${t}?` });
    const t0 = performance.now();
    const res = await fetch(`${lb}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages, max_tokens: 32, temperature: 0, stream: true, ...(sticky ? { user: `conversation-${id}` } : {}) }),
    });
    let reply = "";
    let first: number | undefined;
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (let buffer = ""; ; ) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = buffer.slice(6, end);
        buffer = buffer.slice(end + 2);
        if (data === "[DONE]") continue;
        const text = (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "";
        if (text !== "" && first === undefined) first = performance.now() - t0;
        reply += text;
      }
    }
    if (t > 0 && first !== undefined) ttft.push(first);
    messages.push({ role: "assistant", content: reply });
  }
  return ttft;
}

/** A replica's prefix-cache counters from /metrics. */
async function cacheCounts(url: string): Promise<{ prompt: number; cached: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{model="kjv-llama"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return { prompt: value("actorlm_prefix_cache_prompt_tokens"), cached: value("actorlm_prefix_cache_cached_tokens") };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

console.log(`${conversations} conversations × ${turns} turns, 3 replicas (kjv-llama, 1 thread each) behind HAProxy`);
console.log("| routing | prompt tokens | found cached | share | time to first token, turns 2+: p50 / p90 (ms) |");
console.log("|---|---|---|---|---|");
for (const sticky of [true, false]) {
  const replicas = await Promise.all([0, 1, 2].map(() => start(process.execPath, [CLI, "serve", "--port", "0", "--threads", "1"], /model kjv-llama ready/)));
  const urls = replicas.map((r) => /serving at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.out)![1]);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, ACTORLM_LB_BIND: `127.0.0.1:${port}` };
  urls.forEach((u, i) => (env[`ACTORLM_REPLICA_${i + 1}`] = u.replace("http://", "")));
  const haproxy = spawn("haproxy", ["-db", "-q", "-f", join(ROOT, "deploy/haproxy/haproxy.cfg")], { env, stdio: "ignore" });
  const lb = `http://127.0.0.1:${port}`;
  while (!(await fetch(`${lb}/health`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1500)); // every replica up (rise 2 at 500 ms)
  const ttft = (await Promise.all(Array.from({ length: conversations }, (_, i) => conversation(lb, i, sticky)))).flat();
  const counts = await Promise.all(urls.map(cacheCounts));
  const prompt = counts.reduce((s, c) => s + c.prompt, 0);
  const cached = counts.reduce((s, c) => s + c.cached, 0);
  console.log(`| ${sticky ? "affinity (user field)" : "least connections"} | ${prompt} | ${cached} | ${((100 * cached) / prompt).toFixed(1)} % | ${quantile(ttft, 0.5).toFixed(0)} / ${quantile(ttft, 0.9).toFixed(0)} |`);
  haproxy.kill("SIGTERM");
  for (const r of replicas) r.child.kill("SIGTERM");
  await Promise.all(replicas.map((r) => new Promise((resolve) => r.child.once("close", resolve))));
}
