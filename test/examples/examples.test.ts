// Every example runs as a user would run it (node + tsx, real model worker) and prints what it promises.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { generate } from "@actorlm/llm";
import { hostModel } from "../generation/helpers.js";

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
    // the same two steps per prompt as the example, one after another, through the library
    const prompts = ["In the beginning", "Jesus wept.", "Blessed are the", "And God said, Let there be"];
    const model = await hostModel();
    const want: string[] = [];
    try {
      for (const [i, prompt] of prompts.entries()) {
        const first = await generate(model.inference, { prompt, maxTokens: 12, temperature: 0 });
        const second = await generate(model.inference, { prompt: prompt + first.text, maxTokens: 12, temperature: 0 });
        want.push(`task ${i}: ${JSON.stringify(prompt + first.text + second.text)}`);
      }
    } finally {
      await model.close();
    }
    expect(lines).toEqual(want);
  });

  it("threads: four application threads, one model worker, the same text as one thread", async () => {
    const lines = (await example("threads")).trim().split("\n");
    expect(lines.at(-1)).toBe("threads: 4, live KV slots: 0, clients left: 0");
    const batches = lines.slice(0, -1).map((line) => /^batch (\d) (".*"): (".*")$/.exec(line)!);
    expect(batches).toHaveLength(32);
    const prompts = [...new Set(batches.map((m) => JSON.parse(m[2]) as string))];
    expect(prompts).toHaveLength(8);
    const model = await hostModel();
    const want = new Map<string, string>();
    try {
      for (const prompt of prompts) want.set(prompt, (await generate(model.inference, { prompt, maxTokens: 16, temperature: 0 })).text);
    } finally {
      await model.close();
    }
    for (const m of batches) expect(JSON.parse(m[3]), m[0]).toBe(want.get(JSON.parse(m[2]) as string));
  });

  it("a custom handler gets every injected parameter", async () => {
    const lines = (await example("custom-handler")).trim().split("\n");
    expect(lines.slice(0, 3).map((l) => l.split(":")[0])).toEqual(["verse 1", "verse 2", "verse 3"]);
    expect(lines[3]).toMatch(/^verse: 3 lines in \d+ ms$/);
  });
});
