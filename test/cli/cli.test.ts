/**
 * The real CLI in a child process (`node packages/server/dist/cli.js`): greedy output equal to the reference,
 * seeded sampling, stop strings, usage errors on every command (exit 2), failures while running (exit 1), and
 * perplexity.
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

describe("usage errors: exit 2, one line naming the problem and a hint to --help, nothing on stdout, no help dump", () => {
  /** Checks a usage error's output: `actorlm: <problem>` and `Try 'actorlm <command> --help'.` */
  const expectUsageError = (run: { code: number; stdout: string; stderr: string }, problem: RegExp, command: string) => {
    expect(run.code, run.stderr).toBe(2);
    expect(run.stdout).toBe("");
    const lines = run.stderr.split("\n");
    expect(lines, run.stderr).toHaveLength(3);                     // the problem, the hint, and the final newline
    expect(lines[0]).toMatch(/^actorlm: /);
    expect(lines[0]).toMatch(problem);
    expect(lines[1]).toBe(`Try '${command} --help'.`);
  };

  it.each([
    [["generate", "--prompt", "x", "--max-tokens", "abc"], /option '--max-tokens <n>' argument 'abc' is invalid\. expected a number, got "abc"/],
    [["generate", "--prompt", "x", "--seed", "1.5"], /--seed.*expected an integer/],
    [["generate", "--prompt", "x", "--bogus"], /unknown option '--bogus'$/],
    [["generate", "--prompt", "x", "--max-token", "3"], /unknown option '--max-token' \(Did you mean --max-tokens\?\)$/],
    [["generate"], /required option '--prompt <text>' not specified/],
    [["generate", "--prompt"], /option '--prompt <text>' argument missing/],
    [["generate", "--prompt", "x", "--device", "cuda:x"], /--device.*unknown device "cuda:x"/],
    [["generate", "--prompt", "x", "--backend", "fortran"], /--backend.*unknown backend "fortran"/],
    [["chat", "--top-k", "many"], /--top-k.*expected a number/],
    [["chat", "--nonsense"], /unknown option '--nonsense'/],
    [["perplexity"], /required option '--file <path>' not specified/],
    [["serve", "--port", "99999"], /--port.*expected a port from 0 to 65535.*"99999"/],
    [["serve", "--port", "-1"], /--port.*expected a port from 0 to 65535/],
    [["serve", "--port", "http"], /--port.*expected a port from 0 to 65535/],
    [["serve", "--model"], /option '--model <\[name=\]dir\|id>' argument missing/],
    [["bench", "--runs"], /option '--runs <n>' argument missing/],
    [["bench", "--prompt-tokens", "1e400"], /--prompt-tokens.*expected a number/],
    [["download"], /missing required argument 'id'/],
    [["download", "a/b", "c/d"], /too many arguments for 'download'/],
  ])("%j", async (args, problem) => {
    expectUsageError(await cli(...args), problem, `actorlm ${args[0]}`);
  });

  it("an unknown command: the hint is to the program's --help", async () => {
    expectUsageError(await cli("frobnicate"), /unknown command 'frobnicate'/, "actorlm");
  });

  it.each([
    [["generate", "--prompt", "x", "--top-p", "2"], "--top-p: must be in (0, 1], got 2"],
    [["generate", "--prompt", "x", "--max-tokens", "-5"], "--max-tokens: must be ≥ 1, got -5"],
    [["generate", "--prompt", "x", "--temperature", "-1"], "--temperature: must be ≥ 0, got -1"],
    [["chat", "--top-k", "0"], "--top-k: must be ≥ 1, got 0"],
    [["generate", "--prompt", "x", "--threads", "0"], "--threads: must be an integer ≥ 1, got 0"],
    [["perplexity", "--file", "package.json", "--max-concurrent-requests", "-2"], "--max-concurrent-requests: must be an integer ≥ 1, got -2"],
  ])("a value the engine refuses, %j: VALIDATION naming the flag, before any model loads", async (args, problem) => {
    const run = await cli(...args, "--model", "/nonexistent");       // refused before the missing model is noticed
    expectUsageError(run, /^actorlm: VALIDATION: /, `actorlm ${args[0]}`);
    expect(run.stderr.split("\n")[0]).toBe(`actorlm: VALIDATION: ${problem}`);
  });

  it.each(["generate", "bench", "perplexity"])("%s --model /nonexistent: VALIDATION naming --model, before anything loads (as serve)", async (command) => {
    const run = await cli(command, ...(command === "generate" ? ["--prompt", "x"] : command === "perplexity" ? ["--file", "package.json"] : []), "--model", "/nonexistent");
    expectUsageError(run, /^actorlm: VALIDATION: --model: "\/nonexistent" is not a directory nor a Hugging Face id/, `actorlm ${command}`);
  });

  it("bench --runs -3: VALIDATION naming --runs", async () => {
    const run = await cli("bench", "--runs", "-3");
    expectUsageError(run, /^actorlm: VALIDATION: --runs: must be an integer ≥ 1, got -3$/, "actorlm bench");
  });

  it("--dtype the engine does not have: VALIDATION naming --dtype and every dtype it has", async () => {
    const run = await cli("generate", "--prompt", "x", "--dtype", "float7");
    expectUsageError(run, /^actorlm: VALIDATION: --dtype: unknown data type "float7" \(known: float32, float16, bfloat16, int8, ternary/, "actorlm generate");
  });

  it("--help lists every dtype (ternary included) on every command that loads a model", async () => {
    for (const command of ["generate", "chat", "perplexity", "bench", "serve"]) {
      const run = await cli(command, "--help");
      expect(run.code).toBe(0);
      expect(run.stdout.replace(/\s+/g, " "), command).toContain("--dtype <type> weight storage: float32, float16, bfloat16, int8, ternary");
    }
  });

  it("no command at all: the help on stderr, exit 2", async () => {
    const run = await cli();
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^Usage: actorlm \[options\] \[command\][^]*Commands:/);
  });
});

describe("failures while running: exit 1, one line with the error code, no hint", () => {
  it("--model naming a directory with no model in it: MODEL_LOAD naming the file", async () => {
    const empty = mkdtempSync(join(tmp, "empty-"));
    const run = await cli("generate", "--prompt", "x", "--model", empty);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^actorlm: MODEL_LOAD: .*empty-.*\n$/);
    expect(run.stderr.split("\n")).toHaveLength(2);
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
  ])("a file that %s: a usage error (exit 2), VALIDATION naming the file and the system's reason", async (what, name, reason) => {
    const path = join(tmp, name);
    const run = await cli("perplexity", "--file", path, "--json");
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(`actorlm: VALIDATION: --file ${path}: ${what === "is a directory" ? "is a directory" : "no such file"} (${reason})\nTry 'actorlm perplexity --help'.\n`);
  });
});

describe("engine flags (the same names on every command that loads a model)", () => {
  it("--max-sequence-length reaches the engine: a request that does not fit is refused naming --max-tokens", async () => {
    const run = await cli("generate", "--prompt", "In the beginning", "--max-tokens", "20", "--max-sequence-length", "16");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^actorlm: VALIDATION: --max-tokens: .*\b16\b/);
  });
});

describe("actorlm --version", () => {
  it("prints the package version", async () => {
    const run = await cli("--version");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${(JSON.parse(readFileSync(join(ROOT, "packages/server/package.json"), "utf8")) as { version: string }).version}\n`);
  });
});
