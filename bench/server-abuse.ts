// Misbehaving clients against `actorlm serve` (a child process limited to 1,024 file descriptors, default flags
// unless given): prints what happened to them and to normal clients meanwhile. Asserts nothing.
//   pipelined: one keep-alive connection sends 9 streaming requests back to back and closes after 1 s; then a normal
//     request is timed, /metrics read, and SIGTERM's exit timed (default 10 s grace period).
//   slow: N connections send a header line every 5 s; a normal client asks every 500 ms meanwhile.
//   node --import tsx bench/server-abuse.ts [--scenario pipelined|slow] [--connections 200] [--seconds 40] [-- serve flags]
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    scenario: { type: "string", default: "pipelined" },
    connections: { type: "string", default: "200" },
    seconds: { type: "string", default: "40" },
  },
});
const CLI = join(import.meta.dirname, "../packages/server/dist/cli.js");

/** Starts `actorlm serve --port 0 …` under `ulimit -n 1024`; resolves with its URL once the model is ready. */
async function serve(args: string[]): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const command = `ulimit -n 1024 && exec "${process.execPath}" "${CLI}" serve --port 0 ${args.join(" ")}`;
  const child = spawn("sh", ["-c", command], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  while (!/model \S+ ready/.test(out)) await new Promise((r) => setTimeout(r, 50));
  return { child, url: /serving at (http:\/\/\S+)/.exec(out)![1], out: () => out };
}

const body = (stream: boolean, maxTokens: number) => JSON.stringify({ prompt: "In the beginning", max_tokens: maxTokens, temperature: 0, stream });
const request = (stream: boolean, maxTokens: number) => {
  const b = body(stream, maxTokens);
  return `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
};
const sample = (text: string, name: string) => [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => `${name}${m[1] ?? ""} ${m[2]}`);

async function pipelined(): Promise<void> {
  const s = await serve(positionals.length > 0 ? positionals : ["--max-concurrent", "4"]);
  const { port, hostname } = new URL(s.url);
  const socket = connect(Number(port), hostname);
  await new Promise((r) => socket.once("connect", r));
  socket.on("data", () => undefined);
  socket.write(Array.from({ length: 9 }, () => request(true, 600)).join(""));
  await new Promise((r) => setTimeout(r, 1000));
  socket.destroy();
  const t0 = performance.now();
  const res = await fetch(`${s.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(false, 8) });
  await res.text();
  console.log(`a normal request after the connection closed: ${res.status} in ${Math.round(performance.now() - t0)} ms`);
  await new Promise((r) => setTimeout(r, 500));
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  for (const line of [...sample(metrics, "actorlm_requests_total"), ...sample(metrics, "actorlm_generated_tokens_total"), ...sample(metrics, "actorlm_active_sequences"), ...sample(metrics, "actorlm_queue_size")]) console.log(line);
  console.log(`log lines "cancelled": ${(s.out().match(/ cancelled /g) ?? []).length}`);
  const t1 = performance.now();
  s.child.kill("SIGTERM");
  await new Promise((r) => s.child.once("close", r));
  console.log(`SIGTERM to exit: ${Math.round(performance.now() - t1)} ms`);
}

async function slow(): Promise<void> {
  const n = Number(flags.connections);
  const seconds = Number(flags.seconds);
  const s = await serve(positionals);
  const { port, hostname } = new URL(s.url);
  const start = performance.now();
  const closedAt: number[] = [];
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const socket = connect(Number(port), hostname);
    socket.on("error", () => undefined).on("data", () => undefined);
    socket.once("close", () => closedAt.push((performance.now() - start) / 1000));
    socket.once("connect", () => socket.write("GET /v1/models HTTP/1.1\r\nhost: x\r\n"));
    sockets.push(socket);
  }
  const drip = setInterval(() => {
    for (const socket of sockets) if (!socket.destroyed && socket.writable) socket.write(`x-slow-${Math.random().toString(36).slice(2)}: 1\r\n`);
  }, 5000);
  let ok = 0;
  const failures = new Map<string, number>();
  const until = start + seconds * 1000;
  while (performance.now() < until) {
    try {
      const res = await fetch(`${s.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json", connection: "close" }, body: body(false, 2) });
      await res.text();
      if (res.ok) ok++;
      else failures.set(String(res.status), (failures.get(String(res.status)) ?? 0) + 1);
    } catch (error) {
      const code = String((error as { cause?: { code?: string } }).cause?.code ?? error);
      failures.set(code, (failures.get(code) ?? 0) + 1);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  clearInterval(drip);
  const by = (t: number) => closedAt.filter((c) => c <= t).length;
  console.log(`${n} slow connections: closed by 10 s ${by(10)}, by 31 s ${by(31)}, by 35 s ${by(35)}, by ${seconds} s ${by(seconds)}`);
  console.log(`normal client meanwhile: ${ok} answered, failures ${JSON.stringify(Object.fromEntries(failures))}`);
  const metrics = await (await fetch(`${s.url}/metrics`)).text();
  for (const line of sample(metrics, "actorlm_connections_closed_total")) console.log(line);
  for (const socket of sockets) socket.destroy();
  s.child.kill("SIGTERM");
  await new Promise((r) => s.child.once("close", r));
}

if (flags.scenario === "pipelined") await pipelined();
else if (flags.scenario === "slow") await slow();
else throw new RangeError(`--scenario must be pipelined or slow, got ${flags.scenario}`);
