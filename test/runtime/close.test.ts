import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Cancel, InferenceBuilder, In, Model, ModelHost, Out, handler } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { rejection } from "./helpers.js";

const closeScript = fileURLToPath(new URL("../fixtures/runtime/close-exit.mjs", import.meta.url));
const noCloseScript = fileURLToPath(new URL("../fixtures/runtime/no-close.mjs", import.meta.url));

function runChild(mode: string, script = closeScript): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, mode], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), stdout, stderr });
    });
  });
}

describe("close", () => {
  it.each(["close", "dispose"])("a process that builds, runs a job and %ss exits on its own", async (mode) => {
    const { code, stdout, stderr } = await runChild(mode);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ outputs: [1, 2, 3], first: 4, joined: "CANCELLED", state: "uninitialized" });
  });

  it("a process that uses a model and never calls close() exits on its own: an idle worker does not keep it alive", async () => {
    const { code, stdout, stderr } = await runChild("inference", noCloseScript);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ outputs: [1, 2, 3], state: "ready" });
  });

  it("... while a pending load or model call keeps it alive until the result is in", async () => {
    const { code, stdout, stderr } = await runChild("pending", noCloseScript);
    expect(stderr).toBe("");
    expect(code).toBe(0); // 13 if the process left while the awaited call was pending
    expect(JSON.parse(stdout)).toEqual({ value: 6, state: "ready" });
  });

  it("cancels running jobs, terminates its worker and refuses new jobs", async () => {
    const endless = handler([Model<Counter>(), Cancel(), Out<number>()], async (model, cancel, out) => {
      for (;;) {
        cancel.throwIfCancelled();
        await out.emit(await model.call("slowAdd", 1, 1));
      }
    });
    const inference = await new InferenceBuilder().init(Counter, { start: 0 }).build(endless);
    const host = inference.host!;
    const jobs = [inference.infer(undefined).spawn(), inference.infer(undefined).spawn()];
    await jobs[0]!.stream[Symbol.asyncIterator]().next();
    await inference.close();
    for (const job of jobs) await rejection(job.join(), "CANCELLED");
    expect(inference.activeJobs).toBe(0);
    expect(host.closed).toBe(true);
    expect(inference.state).toBe("uninitialized");
    await rejection(inference.infer(undefined).run(), "NOT_READY");
    await rejection(inference.reset(), "NOT_READY");
    await inference.close();
  });

  it("build() on a shared host that its owner closes meanwhile rejects NOT_READY", async () => {
    const h = handler([In<number>(), Model<Counter>()], (n, model) => model.call("add", n));
    const shared = await ModelHost.start(Counter, {});
    const building = rejection(new InferenceBuilder().withModel(shared).build(h), "NOT_READY");
    await shared.close();
    await building;
  });

  it("Symbol.asyncDispose closes", async () => {
    const h = handler([In<number>()], (n) => n);
    const inference = await new InferenceBuilder().init(Counter, {}).build(h);
    await inference[Symbol.asyncDispose]();
    expect(inference.host?.closed).toBe(true);
  });
});
