// `actorlm chat`: an interactive chat in the terminal. Answers stream as they are generated; Ctrl-C cancels the
// answer being written, and a second Ctrl-C (or Ctrl-D, or /exit) leaves. /reset forgets the conversation.
// Lines typed while an answer streams are answered in turn; piped input works too (one message per line).
import { createInterface } from "node:readline";
import { InferenceBuilder, type Job } from "@actorlm/runtime";
import { streamingHandler, type ChatMessage, type TokenOutput } from "@actorlm/llm";
import { Command } from "commander";
import { chatTemplateOf } from "../models.js";
import { addModelOptions, modelArgs, type ModelFlags } from "./model-options.js";
import { addSamplingOptions, samplingOf, type SamplingFlags } from "./options.js";
import { startModel } from "./start-model.js";

interface ChatFlags extends ModelFlags, SamplingFlags {
  system?: string;
}

const PROMPT = "you> ";

/** The `chat` command. */
export function chatCommand(): Command {
  const command = addModelOptions(
    new Command("chat").description("chat with a model in the terminal (Ctrl-C cancels an answer, twice exits; /reset, /exit)"),
  ).option("--system <text>", "a system message that opens the conversation");
  addSamplingOptions(command);
  return command.action((flags: ChatFlags) => runChat(flags));
}

async function runChat(flags: ChatFlags): Promise<void> {
  const interactive = process.stdin.isTTY === true;
  const sampling = samplingOf(flags);
  await using host = await startModel(modelArgs(flags), true, flags.download);
  await using inference = await new InferenceBuilder().withModel(host).build(streamingHandler);
  const template = await chatTemplateOf(host);
  const opening: ChatMessage[] = flags.system === undefined ? [] : [{ role: "system", content: flags.system }];
  let history: ChatMessage[] = [...opening];

  const out = process.stdout;
  const rl = createInterface({ input: process.stdin, output: out, terminal: interactive, prompt: PROMPT });
  const lines: string[] = [];
  let answering: Job<TokenOutput> | undefined;
  let exitArmed = false;
  let inputEnded = false;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const ask = async (text: string): Promise<void> => {
    const messages: ChatMessage[] = [...history, { role: "user", content: text }];
    const job = inference.infer({ prompt: template.render(messages), ...sampling }).spawn();
    answering = job;
    let answer = "";
    try {
      for await (const t of job.stream) {
        answer += t.token;
        out.write(t.token);
      }
      await job.join();
      out.write("\n");
      history = [...messages, { role: "assistant", content: answer }];
    } catch (error) {
      if (job.status === "cancelled") out.write("\n(answer cancelled; Ctrl-C again to exit)\n");
      else out.write(`\nactorlm: ${(error as Error).message}\n`);
    } finally {
      answering = undefined;
    }
  };

  // Handle queued lines one at a time; prompt again when none is left (or leave once the input ended).
  let working = false;
  const drain = async (): Promise<void> => {
    if (working) return;
    working = true;
    while (lines.length > 0) {
      const line = lines.shift()!.trim();
      if (line === "/exit") return finish();
      if (line === "/reset") {
        history = [...opening];
        out.write("(conversation reset)\n");
      } else if (line !== "") {
        await ask(line);
      }
    }
    working = false;
    if (inputEnded) finish();
    else if (interactive) rl.prompt();
  };

  const onInterrupt = () => {
    if (answering !== undefined) {
      answering.cancel("Ctrl-C");
      lines.length = 0;
      exitArmed = true;
    } else if (exitArmed) {
      finish();
    } else {
      exitArmed = true;
      out.write("\n(Ctrl-C again to exit, or Ctrl-D)\n");
      rl.prompt();
    }
  };

  rl.on("line", (line) => {
    exitArmed = false;
    lines.push(line);
    void drain();
  });
  rl.on("SIGINT", onInterrupt);
  if (!interactive) process.on("SIGINT", onInterrupt);
  rl.on("close", () => {
    inputEnded = true;
    if (!working && lines.length === 0) finish();
  });

  if (interactive) out.write(`chatting with ${flags.model} (${template.origin === "plain" ? "plain chat template" : "the model's chat template"}); Ctrl-C cancels an answer, twice exits\n`);
  if (interactive) rl.prompt();
  await finished;
  answering?.cancel("exit");
  rl.close();
  process.off("SIGINT", onInterrupt);
  if (interactive) out.write("\n");
}
