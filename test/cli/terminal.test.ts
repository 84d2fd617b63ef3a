/**
 * What the CLI prints on a terminal and nowhere else, through a real pseudo-terminal (util-linux `script`): one load
 * bar per model, redrawn in place (not a line per tensor), and generate's one-line tokens/s summary on stderr — both
 * only when stderr is the terminal, so a file or a pipe gets the text alone.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REF, spawnCliOnPty } from "../generation/helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "actorlm-terminal-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Terminal output without ANSI escapes, with the pty's \r\n as \n. */
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, "").replace(/\r+\n/g, "\n");

/** Runs the CLI on a pseudo-terminal (with `redirect`, e.g. `2>file`) until it exits: its code and the terminal's output. */
async function onPty(args: string[], redirect?: string): Promise<{ code: number | null; raw: string; text: string }> {
  const child = spawnCliOnPty(args, { redirect });
  let raw = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (raw += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, raw, text: plain(raw) };
}

const [REF0] = REF.prompts;
const generate = ["generate", "--prompt", REF0.prompt, "--max-tokens", "40", "--temperature", "0"];
const BAR = /^loading \[[█░]{20}\] \d+% \| .*100% \| done in \d+\.\d s$/;
const SUMMARY = /^40 tokens in \d+\.\d\d s: \d+\.\d tokens\/s \(first token after \d+ ms, load \d+\.\d\d s\)$/;

describe("on a terminal", () => {
  it("generate: one load bar, redrawn in place up to 100% and done; the text; then one summary line", async () => {
    const run = await onPty(generate);
    expect(run.code, run.text).toBe(0);
    // the raw output: one line holds every redraw of the bar (the old bar printed two lines per tensor)
    expect(run.raw.split("\n").filter((line) => line.includes("loading ["))).toHaveLength(1);
    const [bar, ...rest] = run.text.split("\n");
    expect(bar).toMatch(/^loading \[[█░]+\] \d+% \| read [\d.]+\/[\d.]+ MB/);   // bytes read (and tensors converted) while loading
    expect(bar).toMatch(BAR);
    const after = rest.join("\n");
    expect(after.startsWith(`${REF0.greedy_text}\n`), after).toBe(true);
    expect(after.slice(REF0.greedy_text.length + 1)).toMatch(new RegExp(`${SUMMARY.source.slice(0, -1)}\n$`));
  });

  it("generate with stdout in a file: the file holds the text alone; the terminal, the bar and the summary", async () => {
    const file = join(tmp, "stdout.txt");
    const run = await onPty(generate, `>${file}`);
    expect(run.code, run.text).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(`${REF0.greedy_text}\n`);
    const lines = run.text.split("\n");
    expect(lines).toHaveLength(3);                                   // bar, summary, and the final newline
    expect(lines[0]).toMatch(BAR);
    expect(lines[1]).toMatch(SUMMARY);
  });

  it("generate with stderr in a file: no bar and no summary, anywhere", async () => {
    const file = join(tmp, "stderr.txt");
    const run = await onPty(generate, `2>${file}`);
    expect(run.code, run.text).toBe(0);
    expect(run.text).toBe(`${REF0.greedy_text}\n`);
    expect(readFileSync(file, "utf8")).toBe("");
  });

  it("perplexity --json: the bar on the terminal, then the JSON", async () => {
    const file = join(tmp, "text.txt");
    writeFileSync(file, REF0.prompt);
    const run = await onPty(["perplexity", "--file", file, "--json"]);
    expect(run.code, run.text).toBe(0);
    const lines = run.text.split("\n");
    expect(lines[0]).toMatch(BAR);
    expect(JSON.parse(lines[1])).toMatchObject({ n_tokens: expect.any(Number) });
  });

  it("a usage error: one line and the hint, no bar", async () => {
    const run = await onPty(["generate", "--prompt", "x", "--top-k", "0"]);
    expect(run.code).toBe(2);
    expect(run.text).toBe("actorlm: VALIDATION: --top-k: must be ≥ 1, got 0\nTry 'actorlm generate --help'.\n");
  });
});
