// Every example runs as a user would run it (node + tsx, real model worker) and prints what it promises.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url);
const reference = JSON.parse(readFileSync(new URL("test/fixtures/kjv-llama.json", root), "utf8")) as {
  prompts: { prompt: string; greedy_ids: number[]; greedy_text: string }[];
};
const byPrompt = (p: string) => reference.prompts.find((x) => x.prompt === p)!;

async function example(name: string): Promise<string> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", `examples/${name}.ts`], { cwd: root, timeout: 60_000 });
  return stdout;
}

describe("examples", () => {
  it("streaming prints the greedy continuation token by token", async () => {
    const ref = byPrompt("In the beginning");
    expect(await example("streaming")).toBe(`${ref.greedy_text}\n`);
  });

  it("run-to-completion returns the whole completion", async () => {
    const ref = byPrompt("The LORD is my shepherd;");
    const completion = JSON.parse(await example("run-to-completion")) as { text: string; tokenIds: number[]; finishReason: string };
    expect(completion.tokenIds).toEqual(ref.greedy_ids.slice(0, 30));
    expect(ref.greedy_text.startsWith(completion.text)).toBe(true);
    expect(completion.finishReason).toBe("length");
  });

  it("cancellation stops jobs three ways and frees every KV slot", async () => {
    const lines = (await example("cancellation")).trim().split("\n");
    expect(lines).toEqual([
      "cancel(): stream ended after 5 tokens, join → CANCELLED",
      "signal: stream ended after 3 tokens, join → CANCELLED",
      "break: join → CANCELLED",
      "live KV slots: 0",
    ]);
  });

  it("concurrent tasks get the same text as sequential greedy runs", async () => {
    const lines = (await example("concurrent")).trim().split("\n");
    expect(lines).toHaveLength(4);
    const text = JSON.parse(lines[0].slice("task 0: ".length)) as string;
    const ref = byPrompt("In the beginning");
    expect(ref.prompt + ref.greedy_text).toContain(text);
    expect(text.length).toBeGreaterThan(ref.prompt.length + 20);
  });

  it("a custom handler gets every injected parameter", async () => {
    const lines = (await example("custom-handler")).trim().split("\n");
    expect(lines.slice(0, 3).map((l) => l.split(":")[0])).toEqual(["verse 1", "verse 2", "verse 3"]);
    expect(lines[3]).toMatch(/^verse: 3 lines in \d+ ms$/);
  });
});
