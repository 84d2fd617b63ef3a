/**
 * A model host used from other threads (ModelHost.connect() → ModelClient on a real worker thread): one model
 * worker and one FIFO for every thread, codes kept across the extra hop, crashes and resets and the owner's
 * close seen by every client, and a client's resources freed when it closes or its thread exits.
 */
import { ModelClient, ModelHost, type BackendState } from "@actorlm/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { TestThread } from "../threads.js";
import { Gate, nextState, rejection } from "./helpers.js";

const FIXTURE = new URL("../fixtures/threads/counter-client.mjs", import.meta.url);
const threads: TestThread[] = [];
const hosts: ModelHost<Counter>[] = [];

async function startHost(): Promise<ModelHost<Counter>> {
  const host = await ModelHost.start(Counter, { start: 0 });
  hosts.push(host);
  return host;
}

function thread(host: ModelHost<Counter>): TestThread {
  const t = new TestThread(FIXTURE, host.connect());
  threads.push(t);
  return t;
}

afterEach(async () => {
  await Promise.all(threads.splice(0).map((t) => t.stop()));
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

/** Open resources per caller, as the model sees them. */
async function open(host: ModelHost<Counter>): Promise<[number, number][]> {
  return (await host.call("resources")).open;
}

/** Asks the model for the open resources (a round trip through its FIFO) until `check` holds; fails after 10 s. */
async function until(host: ModelHost<Counter>, check: (open: [number, number][]) => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check(await open(host))) if (Date.now() > deadline) throw new Error("not reached within 10 s");
}

/** Waits a turn of the event loop at a time until `check` holds (the host's own bookkeeping); fails after 10 s. */
async function eventually(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("not reached within 10 s");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("clients on other threads", () => {
  it("share the owner's model and FIFO; the model sees which client asked", async () => {
    const host = await startHost();
    const [a, b] = [thread(host), thread(host)];
    expect(await a.ask("start_")).toBe("ready");
    await host.call("add", 1);
    expect(await a.ask("call", { op: "add", args: [10] })).toBe(11);
    expect(await b.ask("call", { op: "add", args: [100] })).toBe(111);
    expect(await host.call("add", 0)).toBe(111);
    expect(await host.call("history")).toEqual(["add 1", "add 10", "add 100", "add 0"]);
    const callers = [(await a.ask<{ caller: number }>("call", { op: "resources", args: [] })).caller, (await b.ask<{ caller: number }>("call", { op: "resources", args: [] })).caller];
    expect(new Set([0, ...callers]).size).toBe(3); // the owner is 0, each client has its own id
    expect((await host.call("stats")).overlaps).toBe(0);
  });

  it("run jobs through an inference built on the client: run(), cancel(), an aborted signal, leaving a stream", async () => {
    const host = await startHost();
    const t = thread(host);
    expect(await t.ask("jobs")).toEqual({ ran: 3, cancelled: "CANCELLED", aborted: "CANCELLED", left: "CANCELLED" });
  });

  it("keep error codes, fields and files across the extra hop", async () => {
    const host = await startHost();
    const t = thread(host);
    const error = await rejection(t.ask("call", { op: "fail", args: ["VALIDATION", "prompt", "/m/tokenizer.json"] }), "VALIDATION");
    expect({ field: error.field, file: error.file }).toEqual({ field: "prompt", file: "/m/tokenizer.json" });
    await rejection(t.ask("call", { op: "nope", args: [] }), "VALIDATION");
    await rejection(t.ask("reset"), "VALIDATION"); // only the owner resets
  });

  it("a client call whose signal aborts while it waits in the worker's queue leaves it and never runs", async () => {
    const host = await startHost();
    const t = thread(host);
    await t.ask("start_");
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 7);
    await gate.entered();
    await t.ask("start", { id: 1, op: "add", args: [100] });
    await t.ask("abort", { id: 1 });
    // A barrier: the host refuses an unknown operation itself, after relaying every message the client sent before.
    await rejection(t.ask("call", { op: "nope", args: [] }), "VALIDATION");
    gate.open();
    expect(await held).toBe(7);
    const error = await rejection(t.ask("settle", { id: 1 }), "CANCELLED");
    expect(error.message).toContain("changed its mind");
    expect((await host.call("history")).at(-1)).toBe("hold 7");
  });

  it("see a crash as WORKER_CRASHED, pending and later calls alike, and work again after the owner's reset()", async () => {
    const host = await startHost();
    const [a, b] = [thread(host), thread(host)];
    await Promise.all([a.ask("start_"), b.ask("start_")]);
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 1);
    await gate.entered();
    await a.ask("start", { id: 1, op: "exit", args: [3] }); // queued behind the held operation
    await rejection(a.ask("call", { op: "nope", args: [] }), "VALIDATION"); // (a barrier: the exit call is relayed)
    const pending = rejection(b.ask("call", { op: "add", args: [1] }), "WORKER_CRASHED"); // queued behind the exit
    await rejection(b.ask("call", { op: "nope", args: [] }), "VALIDATION");
    const crashed = nextState(host, "error");
    gate.open();
    await held;
    await crashed;
    await pending;
    await rejection(a.ask("settle", { id: 1 }), "WORKER_CRASHED");
    for (const t of [a, b]) await rejection(t.ask("call", { op: "add", args: [1] }), "WORKER_CRASHED");
    expect((await b.ask<{ state: BackendState }>("state")).state).toBe("error");

    await host.reset();
    for (const t of [a, b]) expect(await t.ask("start_")).toBe("ready");
    expect(await a.ask("call", { op: "add", args: [2] })).toBe(2); // a fresh model
    expect(await b.ask("call", { op: "add", args: [3] })).toBe(5);
    expect((await b.ask<{ states: BackendState[] }>("state")).states).toEqual(["ready", "error", "loading", "ready"]);
  });

  it("get NOT_READY once the owner closes the host, pending calls included", async () => {
    const host = await startHost();
    const t = thread(host);
    await t.ask("start_");
    const gate = new Gate();
    void host.call("hold", gate.buffer, 1).catch(() => undefined);
    await gate.entered();
    const pending = rejection(t.ask("call", { op: "add", args: [1] }), "NOT_READY");
    await rejection(t.ask("call", { op: "nope", args: [] }), "VALIDATION");
    await host.close();
    await pending;
    await rejection(t.ask("call", { op: "add", args: [1] }), "NOT_READY");
    await rejection(t.ask("start_"), "NOT_READY");
    expect(await t.ask("state")).toMatchObject({ closed: true });
    expect(() => host.connect()).toThrow(expect.objectContaining({ code: "NOT_READY" }));
  });

  it("a client that closes frees what it held; the model and the other clients go on", async () => {
    const host = await startHost();
    const [a, b] = [thread(host), thread(host)];
    const mine = await host.call("open");
    for (let i = 0; i < 3; i++) await a.ask("call", { op: "open", args: [] });
    await b.ask("call", { op: "open", args: [] });
    const callerA = (await a.ask<{ caller: number }>("call", { op: "resources", args: [] })).caller;
    expect(await open(host)).toContainEqual([callerA, 3]);
    expect(host.clients).toBe(2);
    expect(await a.ask("close")).toBe(true);
    await until(host, (list) => !list.some(([caller]) => caller === callerA));
    expect((await open(host)).length).toBe(2); // the owner's and b's
    await rejection(a.ask("call", { op: "add", args: [1] }), "NOT_READY");
    expect(await b.ask("call", { op: "add", args: [5] })).toBe(5);
    expect(host.state).toBe("ready");
    expect(await host.call("close", mine)).toBe(true);
    expect(host.clients).toBe(1);
  });

  it("a client thread that exits, even mid-call, frees what it held", async () => {
    const host = await startHost();
    const t = thread(host);
    for (let i = 0; i < 2; i++) await t.ask("call", { op: "open", args: [] });
    const callerT = (await t.ask<{ caller: number }>("call", { op: "resources", args: [] })).caller;
    const gate = new Gate();
    const held = host.call("hold", gate.buffer, 1);
    await gate.entered();
    await t.ask("start", { id: 1, op: "add", args: [100] }); // queued: the thread leaves before it runs
    await rejection(t.ask("call", { op: "nope", args: [] }), "VALIDATION"); // (a barrier: the add is relayed)
    await t.stop();
    await eventually(() => host.clients === 0); // the host saw the thread's port close (the worker is still held)
    gate.open();
    await held;
    await until(host, (list) => !list.some(([caller]) => caller === callerT));
    expect(await host.call("history")).not.toContain("add 100"); // its queued call left the queue
    expect(await host.call("add", 1)).toBe(1);
  });

  it("a client made on the owner's own thread works too, and connect() needs no started host", async () => {
    const host = ModelHost.create(Counter, { start: 4 });
    hosts.push(host);
    const client = ModelClient.connect<Counter>(host.connect());
    const ready = client.start();
    await host.start();
    await ready;
    expect(await client.call("add", 1)).toBe(5);
    await client.close();
    await rejection(client.call("add", 1), "NOT_READY");
    expect(await host.call("add", 1)).toBe(6);
    expect(() => ModelClient.connect({} as never)).toThrow(TypeError);
  });
});
