/**
 * The real CLI in a child process (`node packages/server/dist/cli.js`): greedy output equal to the reference,
 * seeded sampling, stop strings, usage errors, coded errors, and perplexity.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CHAPTER0, CLI, hostModel, REF, ROOT, runCli } from "../generation/helpers.js";

/** Runs the CLI with `args` from the repository root; never rejects (the exit code is in the result). */
const cli = (...args: string[]) => runCli(args, { timeout: 30_000 });

/** Runs `generate … --json` and parses its one line of output. */
async function generateJson(...args: string[]): Promise<Record<string, unknown> & { ids: number[]; text: string }> {
  const run = await cli("generate", ...args, "--json");
  expect(run.code, run.stderr).toBe(0);
  const lines = run.stdout.split("\n");
  expect(lines).toHaveLength(2); // one JSON object, then the final newline
  expect(lines[1]).toBe("");
  return JSON.parse(lines[0]) as Record<string, unknown> & { ids: number[]; text: string };
}

const [REF0] = REF.prompts;
const tmp = mkdtempSync(join(tmpdir(), "actorlm-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("actorlm generate", () => {
  it("--json, greedy: the reference prompt ids, tokens and text, and timings", async () => {
    const out = await generateJson("--prompt", REF0.prompt, "--max-tokens", "40", "--temperature", "0");
    expect(out.prompt_ids).toEqual(REF0.ids);
    expect(out.ids).toEqual(REF0.greedy_ids);
    expect(out.text).toBe(REF0.greedy_text);
    expect(out.finish_reason).toBe("length");
    const timings = out.timings as Record<string, unknown>;
    for (const key of ["load_ms", "prompt_ms", "decode_ms", "tokens_per_second"]) {
      expect(typeof timings[key], key).toBe("number");
      expect(timings[key] as number).toBeGreaterThanOrEqual(0);
    }
  });

  it("without --json: stdout is the greedy text plus a newline, nothing on stderr", async () => {
    const run = await cli("generate", "--prompt", REF0.prompt, "--max-tokens", "40", "--temperature", "0");
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${REF0.greedy_text}\n`);
    expect(run.stderr).toBe("");
  });

  it("--seed reproduces a sampled run, another seed changes it, and the library gives the same tokens", async () => {
    const flags = ["--prompt", "And God said, Let there be", "--max-tokens", "40", "--temperature", "0.8", "--top-p", "0.9"];
    const [a, b, c] = await Promise.all([
      generateJson(...flags, "--seed", "42"),
      generateJson(...flags, "--seed", "42"),
      generateJson(...flags, "--seed", "43"),
    ]);
    expect(a.ids).toHaveLength(40);
    expect(b.ids).toEqual(a.ids);
    expect(b.text).toBe(a.text);
    expect(c.ids).not.toEqual(a.ids);

    const model = await hostModel();
    try {
      const lib = await model.inference.infer({ prompt: "And God said, Let there be", maxTokens: 40, temperature: 0.8, topP: 0.9, seed: 42 }).run();
      expect(lib.map((o) => o.tokenId)).toEqual(a.ids);
    } finally {
      await model.close();
    }
  });

  it("--stop given twice: the earliest one ends the text, which stops right before it", async () => {
    const out = await generateJson("--prompt", REF0.prompt, "--max-tokens", "40", "--temperature", "0", "--stop", " tidings", "--stop", "supper");
    expect(out.text).toBe(REF0.greedy_text.slice(0, REF0.greedy_text.indexOf("supper")));
    expect(out.finish_reason).toBe("stop");
    const late = await generateJson("--prompt", REF0.prompt, "--max-tokens", "40", "--temperature", "0", "--stop", "Son of God", "--stop", " tidings");
    expect(late.text).toBe(" of the vision and former spatthew was made a supper season, and the");
    expect(late.finish_reason).toBe("stop");
  });

  it("a prompt that generates eos ends with finish_reason stop and no eos text", async () => {
    const out = await generateJson("--prompt", "Psalms 150\n\n", "--max-tokens", "200", "--temperature", "0");
    expect(out.finish_reason).toBe("stop");
    expect(out.ids.at(-1)).toBe(1);
    expect(out.text.endsWith("Praise ye the LORD.\n")).toBe(true);
    expect(out.text).not.toContain("<|");
  });
});

describe("stdout closed early (`actorlm generate … | head`)", () => {
  it("ends quietly with exit code 0, no EPIPE crash", async () => {
    const child = spawn(process.execPath, [CLI, "generate", "--prompt", REF0.prompt, "--max-tokens", "300", "--temperature", "0"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.stdout.once("data", () => child.stdout.destroy()); // the reader goes away after the first text
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });
});

describe("stdout fails otherwise (`actorlm generate … > /dev/full`)", () => {
  it.skipIf(!existsSync("/dev/full"))("exits 1 with `actorlm: <message>` on stderr, no stack trace", async () => {
    const full = openSync("/dev/full", "w");
    try {
      const child = spawn(process.execPath, [CLI, "generate", "--prompt", REF0.prompt, "--max-tokens", "5", "--temperature", "0"], {
        cwd: ROOT,
        stdio: ["ignore", full, "pipe"],
      });
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      expect(code).toBe(1);
      expect(stderr).toMatch(/^actorlm: .*ENOSPC.*\n$/);
      expect(stderr.split("\n")).toHaveLength(2); // one line, no stack trace
    } finally {
      closeSync(full);
    }
  });
});

describe("usage errors", () => {
  it.each([
    [["generate", "--prompt", "x", "--max-tokens", "abc"], /--max-tokens.*abc/],
    [["generate", "--prompt", "x", "--bogus"], /unknown option '--bogus'/],
    [["generate"], /required option '--prompt <text>' not specified/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["perplexity"], /required option '--file <path>' not specified/],
  ])("%j: non-zero exit, the problem and the usage on stderr", async (args, problem) => {
    const run = await cli(...args);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(problem);
    expect(run.stderr).toContain("Usage");
  });

  it("--top-p 2: non-zero exit, VALIDATION naming topP", async () => {
    const run = await cli("generate", "--prompt", "x", "--top-p", "2");
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/VALIDATION/);
    expect(run.stderr).toMatch(/topP/);
  });

  it("--model /nonexistent: non-zero exit, MODEL_LOAD", async () => {
    const run = await cli("generate", "--prompt", "x", "--model", "/nonexistent");
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/MODEL_LOAD/);
    expect(run.stderr).toContain("/nonexistent");
  });
});

describe("actorlm perplexity", () => {
  it("--json on held-out chapter 0: 438 tokens, ppl within 0.1 %", async () => {
    const file = join(tmp, "chapter0.txt");
    writeFileSync(file, CHAPTER0);
    const run = await cli("perplexity", "--file", file, "--json");
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { n_tokens: number; ppl: number; mean_nll: number; ms: number };
    expect(out.n_tokens).toBe(438);
    expect(Math.abs(out.ppl / REF.heldout0.ppl - 1)).toBeLessThan(1e-3);
    expect(typeof out.ms).toBe("number");
  });

  it.each([
    ["does not exist", "missing.txt", "ENOENT"],
    ["is a directory", ".", "EISDIR"],
  ])("a file that %s: exit 1, one line with the VALIDATION code naming the file and the system's reason", async (what, name, reason) => {
    const path = join(tmp, name);
    const run = await cli("perplexity", "--file", path, "--json");
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(`actorlm: VALIDATION: --file ${path}: ${what === "is a directory" ? "is a directory" : "no such file"} (${reason})\n`);
  });
});

describe("engine flags (the same names on every command that loads a model)", () => {
  it("--max-sequence-length reaches the engine: a request that does not fit is refused naming it", async () => {
    const run = await cli("generate", "--prompt", "In the beginning", "--max-tokens", "20", "--max-sequence-length", "16");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^actorlm: VALIDATION: maxTokens: .*\b16\b/);
  });

  it("--dtype and --device values the engine does not have are refused by name", async () => {
    const dtype = await cli("generate", "--prompt", "x", "--dtype", "float7");
    expect(dtype.code).toBe(1);
    expect(dtype.stderr).toMatch(/dtype/);
    const device = await cli("generate", "--prompt", "x", "--device", "cuda:7");
    expect(device.code).toBe(1);
    expect(device.stderr).toMatch(/device/);
  });
});

describe("actorlm --version", () => {
  it("prints the package version", async () => {
    const run = await cli("--version");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${(JSON.parse(readFileSync(join(ROOT, "packages/server/package.json"), "utf8")) as { version: string }).version}\n`);
  });
});
