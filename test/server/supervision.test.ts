/**
 * Supervision with a real worker death (the CrashableLlama fixture's `crash` operation ends its worker thread):
 * in-flight requests get an error (a streamed one as an SSE error event), /health turns 503, the worker restarts
 * after a backoff that doubles when it crashes again, and the same server serves again.
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
const crash = () => (running.server.models.get(MODEL).host as unknown as ModelHost<CrashableLlama>).call("crash").catch((e: unknown) => e);
const restarted = () =>
  new Promise<{ attempt: number; error: unknown }>((resolve) => running.server.once("restarted", (_m, attempt, error) => resolve({ attempt, error })));

describe("a model worker that crashes", () => {
  it("fails in-flight requests, answers 503 while it recovers, then serves again without a process restart", async () => {
    const model = running.server.models.get(MODEL);
    const states: string[] = [];
    running.server.on("state", (_name, change) => states.push(change.state));
    const back = restarted();

    const res = await fetch(url("/v1/completions"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...long, stream: true }) });
    const events = sseData(res);
    await events.next();
    const plain = post(url("/generate"), { inputs: P0.prompt, parameters: { max_new_tokens: 500 } });
    await admitted(model, (active) => active === 2);

    expect(await crash()).toMatchObject({ code: "WORKER_CRASHED" });
    const rest: string[] = [];
    for await (const data of events) rest.push(data);
    expect(rest).not.toContain("[DONE]");
    expect(JSON.parse(rest.at(-1)!)).toMatchObject({ error: { code: "WORKER_CRASHED", type: "server_error" } });
    const failed = await plain;
    expect(failed.status).toBe(424);
    expect(failed.body).toMatchObject({ code: "WORKER_CRASHED", error_type: "generation" });

    const health = await fetch(url("/health"));
    expect(health.status).toBe(503);
    const why = (await health.json()) as { error: string; models: Record<string, string> };
    expect(why.models[MODEL]).toMatch(/^(error|loading)$/);
    expect(why.error).toMatch(new RegExp(`^not ready: ${MODEL} is restarting after its worker failed`));
    expect((await fetch(url("/livez"))).status).toBe(200); // liveness holds while the worker restarts
    const refused = await post(url("/v1/completions"), { ...long, max_tokens: 2 });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.error.code).toBe("NOT_READY");

    expect(await back).toEqual({ attempt: 1, error: undefined });
    expect(states).toEqual(["error", "loading", "ready"]);
    expect((await fetch(url("/health"))).status).toBe(200);
    const again = await post(url("/v1/completions"), { ...long, max_tokens: 40 });
    expect(again.status).toBe(200);
    expect(again.body.choices[0].text).toBe(P0.greedy_text);

    const text = await scrape(running.url);
    expect(metric(text, "actorlm_model_restarts_total", { model: MODEL })).toBe(1);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "failed" })).toBe(1);
    expect(metric(text, "actorlm_requests_total", { route: "/generate", model: MODEL, outcome: "failed" })).toBe(1);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "not_ready" })).toBe(1);
    expect(metric(text, "actorlm_model_ready", { model: MODEL })).toBe(1);
  });

  it("crashing again soon after a restart doubles the delay before the next one", async () => {
    const delays: [number, number][] = [];
    running.server.on("restarting", (_m, attempt, delay) => delays.push([attempt, delay]));
    const back = restarted();
    expect(await crash()).toMatchObject({ code: "WORKER_CRASHED" });
    expect(await back).toEqual({ attempt: 2, error: undefined });
    expect(delays).toEqual([[2, 2 * DELAY]]);
    const again = await post(url("/generate"), { inputs: P0.prompt, parameters: { max_new_tokens: 5 } });
    expect(again.status).toBe(200);
  });
});
