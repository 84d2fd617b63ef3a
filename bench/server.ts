// HTTP server benchmark on the embedded model: closed-loop streaming clients (each sends its next request as soon as
// the previous answer ended) against a server on loopback, at 1, 8 and 64 concurrent streams. Reports requests/s,
// tokens/s and time to first token (p50 / p99, measured by the client from sending the request to the first text
// chunk). Prints numbers; asserts nothing. The server runs in this process, the model in its own worker thread.
//   node --import tsx bench/server.ts [--seconds S] [--tokens N] [--levels 1,8,64] [--max-concurrent N]
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { EMBEDDED_MODEL_DIR } from "@actorlm/llm";
import { createServer } from "@actorlm/server";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    tokens: { type: "string", default: "32" },
    levels: { type: "string", default: "1,8,64" },
    "max-concurrent": { type: "string", default: "64" },
  },
});
const positive = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer, got ${text}`);
  return n;
};
const seconds = positive("seconds", flags.seconds);
const tokens = positive("tokens", flags.tokens);
const maxConcurrent = positive("max-concurrent", flags["max-concurrent"]);
const levels = flags.levels.split(",").map((l) => positive("levels", l));
const prompts = ["In the beginning", "And God said, Let there be", "Blessed are the", "The LORD is my shepherd", "And it came to pass"];

await using server = createServer({ models: [EMBEDDED_MODEL_DIR], port: 0, maxConcurrent, maxQueued: 256 });
const url = await server.start();

/** One streamed completion: time to the first text chunk, and the tokens received; `refused` on 429. */
async function once(i: number): Promise<{ ttftMs: number; tokens: number } | "refused"> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: prompts[i % prompts.length], max_tokens: tokens, temperature: 0.8, seed: i, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status === 429) {
    await res.body?.cancel();
    return "refused";
  }
  if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = -1;
  let count = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(6, end);
      buffer = buffer.slice(end + 2);
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data) as { choices: { text: string }[]; usage?: { completion_tokens: number } | null; error?: { message: string } };
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) count = chunk.usage.completion_tokens;
      else if (ttft < 0 && chunk.choices[0]?.text) ttft = performance.now() - t0;
    }
  }
  return { ttftMs: ttft, tokens: count };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// warm-up (JIT, tokenizer pool)
for (let i = 0; i < 3; i++) await once(i);

const rows: string[][] = [["streams", "requests", "requests/s", "tokens/s", "TTFT p50 (ms)", "TTFT p99 (ms)", "429s"]];
for (const level of levels) {
  const ttfts: number[] = [];
  let done = 0;
  let generated = 0;
  let refused = 0;
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: level }, async () => {
      while (performance.now() < deadline) {
        const r = await once(next++);
        if (r === "refused") {
          refused++;
          continue;
        }
        done++;
        generated += r.tokens;
        if (r.ttftMs >= 0) ttfts.push(r.ttftMs);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  ttfts.sort((a, b) => a - b);
  rows.push([String(level), String(done), (done / secs).toFixed(2), (generated / secs).toFixed(1), pct(ttfts, 50).toFixed(0), pct(ttfts, 99).toFixed(0), String(refused)]);
}

const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
console.log(`server bench: embedded model, ${tokens} tokens per request, ~${seconds} s per level, max ${maxConcurrent} concurrent generations`);
for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c])).join("  "));
