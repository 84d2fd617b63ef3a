import { ModelHost, type LoadProgress } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { nextProgress, recordStates, rejection } from "./helpers.js";

describe("reset", () => {
  it("is Loading from the call on: start() during reset() waits for the fresh worker", async () => {
    const host = await ModelHost.start(Counter, { start: 7 });
    expect(await host.call("add", 1)).toBe(8);
    const states = recordStates(host);
    const resetting = host.reset();
    expect(host.state).toBe("loading");
    await rejection(host.call("add", 1), "NOT_READY");
    await host.start();
    expect(host.state).toBe("ready");
    expect(await host.call("add", 1)).toBe(8); // a fresh worker: the counter starts over
    await resetting;
    expect(states).toEqual(["loading", "ready"]);
    await host.close();
  });

  it("close() while reset() stops the old worker: reset rejects NOT_READY and no worker is started", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    const states = recordStates(host);
    const progress: LoadProgress[] = [];
    host.on("progress", (p) => progress.push(p));
    const refused = rejection(host.reset(), "NOT_READY");
    await host.close();
    await refused;
    expect(host.closed).toBe(true);
    expect(host.state).toBe("uninitialized");
    expect(states).toEqual(["loading", "uninitialized"]);
    expect(progress).toEqual([]); // no fresh worker ever started loading
    await rejection(host.start(), "NOT_READY");
  });

  it("close() while reset() loads the fresh worker: reset rejects NOT_READY and the host stays closed", async () => {
    const host = await ModelHost.start(Counter, { start: 0 });
    const states = recordStates(host);
    let closing: Promise<void> | undefined;
    // Close from inside the fresh worker's first progress event, i.e. while its load is in flight.
    const loading = nextProgress(host, "read", () => (closing = host.close()));
    const refused = rejection(host.reset(), "NOT_READY");
    await loading;
    await closing;
    await refused;
    expect(host.closed).toBe(true);
    expect(host.state).toBe("uninitialized");
    expect(states).toEqual(["loading", "uninitialized"]);
  });

  it("reset() during a hung load stops it (the waiting start() rejects NOT_READY) and loads in a fresh worker", async () => {
    const slots = new Int32Array(new SharedArrayBuffer(8));
    const host = ModelHost.create(Counter, { start: 3, hangFirstLoad: slots.buffer as SharedArrayBuffer });
    const hung = nextProgress(host, "hung");
    const superseded = rejection(host.start(), "NOT_READY");
    await hung;
    expect(host.state).toBe("loading");
    const states = recordStates(host);
    const resetting = host.reset();
    await superseded;
    await resetting;
    expect(host.state).toBe("ready");
    expect(Atomics.load(slots, 0)).toBe(2); // two loads, each in its own worker
    expect(await host.call("add", 1)).toBe(4);
    expect(states).toEqual(["ready"]); // Loading all along, then Ready
    await host.close();
  });

  it("reset() twice in a row: the first is superseded, the second loads", async () => {
    const host = await ModelHost.start(Counter, { start: 1 });
    const first = rejection(host.reset(), "NOT_READY");
    const second = host.reset();
    await first;
    await second;
    expect(host.state).toBe("ready");
    expect(await host.call("add", 1)).toBe(2);
    await host.close();
  });
});
