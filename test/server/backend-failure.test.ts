/**
 * A model whose backend fails for good is never left serving. The CrashableLlama fixture's `breakBackend` makes the
 * real wasm kernels trap (an op over memory past their end), after which every forward pass fails in the backend, as
 * after any wasm trap or out-of-bounds write. The requests of the failing step get WORKER_CRASHED naming the failure,
 * the worker is replaced through the crash path (state and restart events, the restarts metric), /health answers 503
 * until the fresh worker is ready and 200 after, and the same server serves again; broken again soon after, the
 * restart backs off (its delay doubles).
 */
import type { ModelClass, ModelHost } from "@actorlm/runtime";
import type { LlmEngine, LlmEngineArgs } from "@actorlm/llm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CrashableLlama } from "../fixtures/server/crashable-llama.mjs";
import { REF } from "../generation/helpers.js";
import { MODEL, admitted, metric, post, scrape, sseData, startServer, type Running } from "./helpers.js";

const DELAY = 300;
let running: Running;
beforeAll(async () => {
  running = await startServer({
    modelClass: CrashableLlama as unknown as ModelClass<LlmEngine, LlmEngineArgs>,
    restart: { initialDelayMs: DELAY },
  });
});
afterAll(() => running.close());

const [P0] = REF.prompts;
const url = (path: string) => `${running.url}${path}`;
const long = { model: MODEL, prompt: P0.prompt, max_tokens: 500, temperature: 0 };
const breakBackend = () => (running.server.models.get(MODEL).host as unknown as ModelHost<CrashableLlama>).call("breakBackend");
const restarted = () =>
  new Promise<{ attempt: number; error: unknown }>((resolve) => running.server.once("restarted", (_m, attempt, error) => resolve({ attempt, error })));
const FAILED_STEP = /^a forward pass failed in the wasm backend \(RangeError: wasm kernels .*\); the model's memory is in an unknown state/;

/** GET /health: its status and the model's state in the body. */
async function health(): Promise<{ status: number; state: string }> {
  const res = await fetch(url("/health"));
  return { status: res.status, state: ((await res.json()) as { models: Record<string, string> }).models[MODEL] };
}

describe("a backend that fails in a step", () => {
  it("fails that step's requests with WORKER_CRASHED, restarts the worker as after a crash, and serves again", async () => {
    const model = running.server.models.get(MODEL);
    const states: string[] = [];
    const delays: [number, number][] = [];
    running.server.on("state", (_name, change) => states.push(change.state));
    running.server.on("restarting", (_name, attempt, delay) => delays.push([attempt, delay]));
    const back = restarted();

    const res = await fetch(url("/v1/completions"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...long, stream: true }) });
    const events = sseData(res);
    await events.next();
    const plain = post(url("/generate"), { inputs: P0.prompt, parameters: { max_new_tokens: 500 } });
    await admitted(model, (active) => active === 2);

    expect(await breakBackend()).toMatch(/^wasm kernels failed: /);
    const rest: string[] = [];
    for await (const data of events) rest.push(data);
    expect(rest).not.toContain("[DONE]");
    const streamed = JSON.parse(rest.at(-1)!) as { error: { code: string; type: string; message: string } };
    expect(streamed.error).toMatchObject({ code: "WORKER_CRASHED", type: "server_error" });
    expect(streamed.error.message).toMatch(FAILED_STEP);
    const failed = await plain;
    expect(failed.status).toBe(424);
    expect(failed.body).toMatchObject({ code: "WORKER_CRASHED", error_type: "generation" });
    expect(failed.body.error).toMatch(FAILED_STEP);

    const recovering = await health();
    expect(recovering.status).toBe(503);
    expect(recovering.state).toMatch(/^(error|loading)$/);
    const refused = await post(url("/v1/completions"), { ...long, max_tokens: 2 });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe("NOT_READY");

    expect(await back).toEqual({ attempt: 1, error: undefined });
    expect(states).toEqual(["error", "loading", "ready"]);
    expect(delays).toEqual([[1, DELAY]]);
    expect(await health()).toEqual({ status: 200, state: "ready" });
    const again = await post(url("/v1/completions"), { ...long, max_tokens: 40 });
    expect(again.status).toBe(200);
    expect(again.body.choices[0].text).toBe(P0.greedy_text);
    expect(metric(await scrape(running.url), "actorlm_model_restarts_total", { model: MODEL })).toBe(1);
  });

  it("broken again soon after: the next request fails the same way, the restart backs off, /health tells the truth", async () => {
    const delays: [number, number][] = [];
    running.server.on("restarting", (_name, attempt, delay) => delays.push([attempt, delay]));
    const back = restarted();
    await breakBackend();

    const failed = await post(url("/generate"), { inputs: P0.prompt, parameters: { max_new_tokens: 5 } });
    expect(failed.status).toBe(424);
    expect(failed.body).toMatchObject({ code: "WORKER_CRASHED" });
    expect(failed.body.error).toMatch(FAILED_STEP);
    expect((await health()).status).toBe(503);

    expect(await back).toEqual({ attempt: 2, error: undefined });
    expect(delays).toEqual([[2, 2 * DELAY]]);
    expect(await health()).toEqual({ status: 200, state: "ready" });
    const again = await post(url("/generate"), { inputs: P0.prompt, parameters: { max_new_tokens: 5 } });
    expect(again.status).toBe(200);
  });
});
