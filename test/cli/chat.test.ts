/**
 * `actorlm chat` through a real pseudo-terminal (util-linux `script` runs it on a pty): answers stream the greedy
 * completion of the chat-templated conversation, Ctrl-C cancels the answer being written, a second Ctrl-C exits 0.
 * Also driven by piped input, one message per line.
 */
import { execFile } from "node:child_process";
import { ChatTemplate } from "@actorlm/server";
import { describe, expect, it } from "vitest";
import { CLI, ROOT, spawnCliOnPty } from "../generation/helpers.js";
import { referenceModel } from "../server/helpers.js";

/** Terminal output without ANSI escapes, with the pty's \r\n as \n. */
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, "").replace(/\r+\n/g, "\n");

/** Runs `actorlm chat <args>` on a pseudo-terminal; `printed(re)` waits for output after `from`. */
function onPty(args: string[]) {
  const child = spawnCliOnPty(["chat", ...args]);
  let out = "";
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const printed = async (re: RegExp, from = 0): Promise<string> => {
    while (!re.test(plain(out.slice(from)))) {
      const more = new Promise<void>((resolve) => waiters.push(resolve));
      const ended = exited.then(() => {
        throw new Error(`chat exited before printing ${re}: ${JSON.stringify(plain(out))}`);
      });
      await Promise.race([more, ended]);
    }
    return plain(out.slice(from));
  };
  return { type: (text: string) => child.stdin.write(text), printed, mark: () => out.length, exited, kill: () => child.kill("SIGKILL") };
}

describe("actorlm chat on a terminal", () => {
  it("streams the greedy answer to the templated question; Ctrl-C twice at the prompt exits 0", async () => {
    const question = "Who made the heaven and the earth?";
    const lib = await referenceModel();
    const ref = await lib.of({ prompt: ChatTemplate.plain().render([{ role: "user", content: question }]), maxTokens: 12 }).finally(() => lib.close());
    const tty = onPty(["--temperature", "0", "--max-tokens", "12"]);
    try {
      // on a terminal the model's load shows one progress bar first, redrawn in place on one line
      expect(await tty.printed(/you> $/)).toMatch(/^loading \[[█░]+\] [^\n]*100% \| done in \d+\.\d s\n/);
      const mark = tty.mark();
      tty.type(`${question}\r`);
      expect(await tty.printed(/\nyou> $/, mark)).toBe(`${question}\n${ref.text}\nyou> `);
      tty.type("\x03");
      await tty.printed(/\(Ctrl-C again to exit, or Ctrl-D\)\nyou> $/, mark);
      tty.type("\x03");
      expect(await tty.exited).toBe(0);
    } finally {
      tty.kill();
    }
  });

  it("Ctrl-C cancels the answer being written (at once, not at the token cap); a second Ctrl-C exits 0", async () => {
    const tty = onPty(["--temperature", "0", "--max-tokens", "800"]);
    try {
      await tty.printed(/you> $/);
      const mark = tty.mark();
      tty.type("Tell me of the kings of Israel.\r");
      await tty.printed(/Israel\.\n.*\S/, mark);
      tty.type("\x03");
      const shown = await tty.printed(/\n\(answer cancelled; Ctrl-C again to exit\)\nyou> $/, mark);
      expect(shown.length).toBeLessThan(1500); // 800 tokens would be several thousand characters
      tty.type("\x03");
      expect(await tty.exited).toBe(0);
    } finally {
      tty.kill();
    }
  });
});

describe("actorlm chat with piped input", () => {
  it("answers each line in turn with the conversation so far, then exits 0 at end of input", async () => {
    const lib = await referenceModel();
    const template = ChatTemplate.plain();
    const first = await lib.of({ prompt: template.render([{ role: "user", content: "Who is the LORD?" }]), maxTokens: 6 });
    const second = await lib.of({
      prompt: template.render([
        { role: "user", content: "Who is the LORD?" },
        { role: "assistant", content: first.text },
        { role: "user", content: "And Moses?" },
      ]),
      maxTokens: 6,
    }).finally(() => lib.close());
    const run = await new Promise<{ code: number; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, [CLI, "chat", "--temperature", "0", "--max-tokens", "6"], { cwd: ROOT, encoding: "utf8" }, (error, stdout) =>
        resolve({ code: error === null ? 0 : Number(error.code), stdout }),
      );
      child.stdin!.end("Who is the LORD?\nAnd Moses?\n");
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${first.text}\n${second.text}\n`);
  });
});
