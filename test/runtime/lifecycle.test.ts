/**
 * The model host's lifecycle, transition by transition (the table in packages/runtime/src/host.ts): each test
 * drives one transition and checks the `state` events it emits, `state`, `error`, `closed` and what calls get.
 */
import { ModelHost, type BackendState } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { Gate, nextProgress, nextState, recordStates, rejection } from "./helpers.js";

/** A host whose load waits at `gate` (so it can be caught in `loading`). */
function gatedHost(gate: Gate): ModelHost<Counter> {
  return ModelHost.create(Counter, { start: 0, loadGate: gate.buffer });
}

/** Expects the host to be closed: public state uninitialized, every entry point NOT_READY. */
async function expectClosed(host: ModelHost<Counter>): Promise<void> {
  expect(host.closed).toBe(true);
  expect(host.state).toBe("uninitialized");
  await rejection(host.start(), "NOT_READY");
  await rejection(host.reset(), "NOT_READY");
  await rejection(host.call("add", 1), "NOT_READY");
}

describe("host lifecycle transitions", () => {
  it("uninitialized → loading (start) → ready (loaded)", async () => {
    const host = ModelHost.create(Counter, { start: 1 });
    expect(host.state).toBe("uninitialized");
    await rejection(host.call("add", 1), "NOT_READY");
    const states = recordStates(host);
    const started = host.start();
    expect(host.state).toBe("loading");
    await started;
    expect(states).toEqual(["loading", "ready"]);
    expect(await host.call("add", 1)).toBe(2);
    await host.start(); // ready: resolves at once, no event
    expect(states).toEqual(["loading", "ready"]);
    await host.close();
  });

  it("uninitialized stays put when the load arguments are invalid: VALIDATION before any worker starts", async () => {
    const host = ModelHost.create(Counter, { start: "zero" as unknown as number });
    const states = recordStates(host);
    const error = await rejection(host.start(), "VALIDATION");
    expect(error.field).toBe("start");
    expect(host.state).toBe("uninitialized");
    expect(states).toEqual([]);
    await host.close();
  });

  it("loading → error when load() throws (MODEL_LOAD); start() keeps rejecting with it", async () => {
    const host = ModelHost.create(Counter, { failLoad: "no weights" });
    const states = recordStates(host);
    await rejection(host.start(), "MODEL_LOAD");
    expect(states).toEqual(["loading", "error"]);
    expect(host.error?.code).toBe("MODEL_LOAD");
    await rejection(host.start(), "MODEL_LOAD");
    await rejection(host.call("add", 1), "NOT_READY");
    await host.close();
  });

  it("loading → error when the worker dies while loading (MODEL_LOAD)", async () => {
    const host = ModelHost.create(Counter, { exitOnLoad: true });
    const states = recordStates(host);
    const error = await rejection(host.start(), "MODEL_LOAD");
    expect(error.message).toMatch(/exit code 7/);
    expect(states).toEqual(["loading", "error"]);
    await host.close();
  });

  it("ready → error when the worker dies (WORKER_CRASHED); calls fail with it until reset", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    const crashed = nextState(host, "error");
    await rejection(host.call("exit", 3), "WORKER_CRASHED");
    const change = await crashed;
    expect(change).toMatchObject({ state: "error", previous: "ready" });
    expect(change.error?.code).toBe("WORKER_CRASHED");
    expect(host.error?.code).toBe("WORKER_CRASHED");
    await rejection(host.call("add", 1), "WORKER_CRASHED");
    await rejection(host.start(), "WORKER_CRASHED");
    await host.close();
  });

  it("ready → loading → ready (reset): a fresh worker, pending calls fail NOT_READY", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    expect(await host.call("add", 5)).toBe(5);
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 1);
    await gate.entered();
    const states = recordStates(host);
    const resetting = host.reset();
    expect(host.state).toBe("loading");
    await rejection(held, "NOT_READY");
    await resetting;
    expect(states).toEqual(["loading", "ready"]);
    expect(await host.call("add", 1)).toBe(1); // the counter starts over
    await host.close();
  });

  it("error → loading → ready (reset after a crash)", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    await rejection(host.call("exit", 3), "WORKER_CRASHED");
    if (host.state !== "error") await nextState(host, "error");
    const states = recordStates(host);
    await host.reset();
    expect(states).toEqual(["loading", "ready"]);
    expect(host.error).toBeUndefined();
    expect(await host.call("add", 2)).toBe(2);
    await host.close();
  });

  it("loading → loading (reset during a load): the load in flight is stopped and its start() rejects NOT_READY", async () => {
    const gate = new Gate();
    const host = gatedHost(gate);
    const first = rejection(host.start(), "NOT_READY");
    await nextProgress(host, "read");
    const states = recordStates(host);
    const second = host.reset(); // the gated load never finishes: its worker is terminated
    await first;
    gate.open(); // the fresh worker's load waits at the same gate
    await second;
    expect(states).toEqual(["ready"]); // loading all along, then ready
    await host.close();
  });

  it.each<[string, (host: ModelHost<Counter>, gate: Gate) => Promise<void>]>([
    ["uninitialized", async () => {}],
    ["loading", async (host) => {
      void host.start().catch(() => undefined);
      await nextProgress(host, "read");
    }],
    ["ready", async (host, gate) => {
      const started = host.start();
      gate.open();
      await started;
    }],
    ["error", async (host, gate) => {
      const started = host.start();
      gate.open();
      await started;
      await rejection(host.call("exit", 3), "WORKER_CRASHED");
      if (host.state !== "error") await nextState(host, "error");
    }],
  ])("%s → closed (close)", async (from, enter) => {
    const gate = new Gate();
    const host = gatedHost(gate);
    await enter(host, gate);
    expect(host.state).toBe(from as BackendState);
    const states = recordStates(host);
    await host.close();
    expect(states).toEqual(from === "uninitialized" ? [] : ["uninitialized"]);
    await expectClosed(host);
    await host.close(); // idempotent
    gate.open();
  });
});
