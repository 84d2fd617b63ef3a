import { InferenceBuilder, InferenceError, Model, ModelHost, handler, type LoadProgress, type ModelClass } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter, type CounterArgs } from "../fixtures/runtime/counter.mjs";
import { recordStates, rejection } from "./helpers.js";

const read = handler([Model<Counter>()], async (model) => (await model.call("stats")).count);

describe("model loading", () => {
  it("goes Uninitialized → Loading → Ready and reports progress", async () => {
    const host = ModelHost.create(Counter, { start: 5, progressSteps: 3 });
    expect(host.state).toBe("uninitialized");
    const states = recordStates(host);
    const progress: LoadProgress[] = [];
    host.on("progress", (p) => progress.push(p));
    await host.start();
    expect(states).toEqual(["loading", "ready"]);
    expect(progress).toEqual([1, 2, 3].map((i) => ({ stage: "read", done: i * 100, total: 300, unit: "B" })));
    expect(host.operations).toContain("slowAdd");
    expect(host.operations).not.toContain("constructor");
    const inference = await new InferenceBuilder().withModel(host).build(read);
    expect(await inference.infer(undefined).run()).toEqual([5]);
    await inference.close();
    expect(host.state).toBe("ready");
    await host.close();
    expect(host.state).toBe("uninitialized");
    await rejection(host.call("add", 1), "NOT_READY");
  });

  it("rejects calls with NOT_READY while loading (load held by an Atomics gate)", async () => {
    const gate = new SharedArrayBuffer(4);
    const host = ModelHost.create(Counter, { loadGate: gate });
    const started = host.start();
    expect(host.state).toBe("loading");
    await rejection(host.call("add", 1), "NOT_READY");
    const flag = new Int32Array(gate);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await started;
    expect(await host.call("add", 1)).toBe(1);
    await host.close();
  });

  it("a load that throws rejects build() with MODEL_LOAD carrying the worker's message; state Error", async () => {
    const host = ModelHost.create(Counter, { failLoad: "weights are truncated at tensor layers.3.wq" });
    const states = recordStates(host);
    const error = await rejection(host.start(), "MODEL_LOAD");
    expect(error.message).toContain("weights are truncated at tensor layers.3.wq");
    expect(states).toEqual(["loading", "error"]);
    expect(host.error?.code).toBe("MODEL_LOAD");
    await rejection(host.start(), "MODEL_LOAD");
    await host.close();

    const viaBuild = await rejection(new InferenceBuilder().init(Counter, { failLoad: "bad config.json" }).build(read), "MODEL_LOAD");
    expect(viaBuild.message).toContain("bad config.json");
    // A load that throws another code is still MODEL_LOAD; the original, code and all, is the cause.
    const coded = await rejection(new InferenceBuilder().init(Counter, { failLoad: "coded", failLoadCode: true }).build(read), "MODEL_LOAD");
    expect(coded.message).toContain("coded");
    expect(coded.cause).toBeInstanceOf(InferenceError);
    expect((coded.cause as InferenceError).code).toBe("VALIDATION");
    expect((coded.cause as InferenceError).message).toBe("coded");
  });

  it("a worker that exits during load, or a missing export, is MODEL_LOAD too", async () => {
    await rejection(new InferenceBuilder().init(Counter, { exitOnLoad: true }).build(read), "MODEL_LOAD");
    const Missing: ModelClass<Counter, CounterArgs> = { name: "NoSuchModel", moduleUrl: Counter.moduleUrl, load: Counter.load };
    const error = await rejection(new InferenceBuilder().init(Missing, {}).build(read), "MODEL_LOAD");
    expect(error.message).toContain("NoSuchModel");
    const BadUrl: ModelClass<Counter, CounterArgs> = { name: "Counter", moduleUrl: new URL("./missing.mjs", Counter.moduleUrl).href, load: Counter.load };
    await rejection(new InferenceBuilder().init(BadUrl, {}).build(read), "MODEL_LOAD");
  });

  it("reset() after a failed load tries again in a fresh worker", async () => {
    const host = ModelHost.create(Counter, { exitOnLoad: true });
    const states = recordStates(host);
    await rejection(host.start(), "MODEL_LOAD");
    await rejection(host.reset(), "MODEL_LOAD");
    expect(states).toEqual(["loading", "error", "loading", "error"]);
    expect(host.state).toBe("error");
    await host.close();
    await rejection(host.reset(), "NOT_READY");
  });
});
