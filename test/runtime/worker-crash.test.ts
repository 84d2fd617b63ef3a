import { InferenceBuilder, In, Model, Out, handler, type Inference } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { nextState, recordStates, rejection } from "./helpers.js";

type Crash = "crashAsync" | "exit" | "exhaustMemory" | "giveUp";

const work = handler([In<{ crash?: Crash; steps: number }>(), Model<Counter>(), Out<number>()], async (req, model, out) => {
  if (req.crash === "crashAsync") await model.call("crashAsync");
  if (req.crash === "exit") await model.call("exit", 3);
  if (req.crash === "exhaustMemory") await model.call("exhaustMemory");
  if (req.crash === "giveUp") await model.call("giveUp", "memory access out of bounds");
  for (let i = 0; i < req.steps; i++) await out.emit(await model.call("slowAdd", 1, 1));
});

async function crashAndRecover(inference: Inference<{ crash?: Crash; steps: number }, number>, crash: Crash): Promise<void> {
  expect(await inference.infer({ steps: 3 }).run()).toEqual([1, 2, 3]);
  const states = recordStates(inference);
  const errorState = nextState(inference, "error");
  // The crashing job goes first; the others queue behind it in the worker's FIFO.
  const crasher = inference.infer({ crash, steps: 1 }).spawn();
  const pending = Array.from({ length: 4 }, () => inference.infer({ steps: 5 }).spawn());
  const change = await errorState;
  expect(change.error?.code).toBe("WORKER_CRASHED");
  await rejection(crasher.join(), "WORKER_CRASHED");
  for (const job of pending) await rejection(job.join(), "WORKER_CRASHED");
  expect(inference.state).toBe("error");
  // Future calls fail the same way until reset.
  await rejection(inference.infer({ steps: 1 }).run(), "WORKER_CRASHED");
  await rejection(inference.host!.call("stats" as never), "WORKER_CRASHED");

  await inference.reset();
  expect(states).toEqual(["error", "loading", "ready"]);
  expect(inference.state).toBe("ready");
  // A fresh worker: the counter starts over.
  expect(await inference.infer({ steps: 2 }).run()).toEqual([1, 2]);
}

describe("worker crash", () => {
  it("an uncaught async exception in the worker fails pending jobs with WORKER_CRASHED; reset() recovers", async () => {
    const inference = await new InferenceBuilder().init(Counter, { start: 0 }).build(work);
    await crashAndRecover(inference, "crashAsync");
    await inference.close();
  });

  it("process.exit in the worker is a crash too", async () => {
    const inference = await new InferenceBuilder().init(Counter, { start: 0 }).build(work);
    await crashAndRecover(inference, "exit");
    await inference.close();
  });

  it("a model that gives its worker up (ctx.crash) is a crash too, with its failure as the cause", async () => {
    const inference = await new InferenceBuilder().init(Counter, { start: 0 }).build(work);
    const failed = nextState(inference, "error");
    const job = inference.infer({ crash: "giveUp", steps: 1 }).spawn();
    const error = await rejection(job.join(), "WORKER_CRASHED");
    expect(error.message).toContain("memory access out of bounds");
    const change = await failed;
    expect(change.error?.code).toBe("WORKER_CRASHED");
    expect(((change.error?.cause as Error).cause as Error).name).toBe("RangeError");
    await inference.reset();
    await crashAndRecover(inference, "giveUp");
    await inference.close();
  });

  it("running out of the worker's memory limit is a crash, not a process abort", async () => {
    const inference = await new InferenceBuilder()
      .init(Counter, { start: 0 }, { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 } })
      .build(work);
    await crashAndRecover(inference, "exhaustMemory");
    await inference.close();
  });
});
