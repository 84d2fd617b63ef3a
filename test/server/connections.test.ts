/**
 * Connections over raw loopback sockets: pipelined requests on a connection that closes are all cancelled, logged
 * and counted; slow headers, short bodies and idle keep-alive connections are closed by their timeouts (small values
 * here) while normal clients keep being served; a connection over the limit is closed; the 408, 431, 400 and the
 * shutdown's 503 come in the route's error shape.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RequestLog, ServedModel } from "@actorlm/server";
import { MODEL, admitted, metric, post, postStream, scrape, startServer, type Running } from "./helpers.js";
import { connect, httpRequest, responsesIn } from "./raw-http.js";

let running: Running;
let model: ServedModel;
beforeAll(async () => {
  running = await startServer({ maxConcurrent: 2, maxQueued: 16, headersTimeout: 400, requestTimeout: 800, keepAliveTimeout: 600 });
  model = running.server.models.get(MODEL);
});
afterAll(() => running.close());

const completion = (stream: boolean, maxTokens = 600) => ({ model: MODEL, prompt: "In the beginning", max_tokens: maxTokens, temperature: 0, stream });

/** The next `n` requests the server logs. */
function nextLogs(n: number): Promise<RequestLog[]> {
  const logs: RequestLog[] = [];
  return new Promise((resolve) => {
    const on = (log: RequestLog) => {
      logs.push(log);
      if (logs.length < n) return;
      running.server.off("request", on);
      resolve(logs);
    };
    running.server.on("request", on);
  });
}

describe("pipelined requests on a connection that closes", () => {
  it("are all cancelled — running, queued and not yet answered — logged and counted, and nothing waits on them", async () => {
    const logged = nextLogs(9);
    const client = await connect(running.url);
    // 9 requests back to back, streaming and not: 2 run (maxConcurrent 2), the others wait to join the batch
    client.socket.write(Array.from({ length: 9 }, (_, i) => httpRequest("POST", "/v1/completions", completion(i % 2 === 0))).join(""));
    await admitted(model, (active, queued) => active === 2 && queued === 7);
    client.socket.destroy();
    const logs = await logged;
    expect(logs.map((l) => l.outcome)).toEqual(Array(9).fill("cancelled"));
    const generated = logs.reduce((n, l) => n + (l.completionTokens ?? 0), 0);
    console.log(`pipelined: ${logs.length} requests cancelled when their connection closed; ${generated} tokens generated in all (9 × 600 asked)`);
    expect(generated).toBeLessThan(2 * 600);
    expect(await model.requests()).toEqual({ active: 0, queued: 0 });
    expect(await model.host.call("activeSequences")).toBe(0);
    const text = await scrape(running.url);
    expect(metric(text, "actorlm_requests_total", { route: "/v1/completions", model: MODEL, outcome: "cancelled" })).toBe(9);
    expect(metric(text, "actorlm_active_sequences", { model: MODEL })).toBe(0);
    // a new client finds the batch empty: it is admitted at once, not queued behind the abandoned requests
    const res = await post(`${running.url}/v1/completions`, completion(false, 3));
    expect(res.status).toBe(200);
    expect(res.body.usage.completion_tokens).toBe(3);
  });
});

describe("timeouts", () => {
  it("20 connections sending a header line every 100 ms get 408 and are closed; a normal client is served meanwhile", async () => {
    const before = metric(await scrape(running.url), "actorlm_connections_closed_total", { reason: "timeout" }) ?? 0;
    const slow = await Promise.all(Array.from({ length: 20 }, () => connect(running.url)));
    for (const c of slow) c.socket.write("GET /v1/models HTTP/1.1\r\nhost: x\r\n");
    const drip = setInterval(() => {
      for (const c of slow) if (!c.socket.destroyed) c.socket.write(`x-slow-${Math.random().toString(36).slice(2)}: 1\r\n`);
    }, 100);
    try {
      const models = await fetch(`${running.url}/v1/models`);
      expect(models.status).toBe(200);
      await Promise.all(slow.map((c) => c.closed));
    } finally {
      clearInterval(drip);
    }
    for (const c of slow) {
      const [res] = responsesIn(c.data());
      expect(res.status).toBe(408);
      expect(res.headers.connection).toBe("close");
      expect(JSON.parse(res.body)).toMatchObject({ code: "REQUEST_TIMEOUT", error_type: "validation" });
    }
    const after = metric(await scrape(running.url), "actorlm_connections_closed_total", { reason: "timeout" });
    console.log(`slow headers: ${slow.length} of ${slow.length} connections closed with 408; actorlm_connections_closed_total{reason="timeout"} ${before} → ${after}`);
    expect(after).toBeGreaterThanOrEqual(before + 20);
  });

  it("a connection that sends nothing is closed (408) too", async () => {
    const idle = await connect(running.url);
    await idle.closed;
    expect(responsesIn(idle.data())[0].status).toBe(408);
  });

  it("a body shorter than its Content-Length: 408 in the route's shape, logged as a timeout; the model never sees it", async () => {
    const logged = nextLogs(1);
    const c = await connect(running.url);
    c.socket.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"prompt": "In the`);
    await c.closed;
    const [res] = responsesIn(c.data());
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: "REQUEST_TIMEOUT", type: "invalid_request_error" } });
    const [log] = await logged;
    expect(log).toMatchObject({ path: "/v1/completions", status: 408, outcome: "timeout", completionTokens: undefined });
  });

  it("none of them limits generation: a stream running past every timeout is served to its end", async () => {
    const res = await postStream(`${running.url}/v1/completions`, completion(true, 1000));
    expect(res.status).toBe(200);
    expect(res.events.at(-1)).toBe("[DONE]");
    expect(JSON.parse(res.events.at(-2)!).choices[0].finish_reason).toBe("length");
  });

  it("an idle keep-alive connection is closed after its last response", async () => {
    const c = await connect(running.url);
    c.socket.write(httpRequest("GET", "/health"));
    await c.closed;
    const responses = responsesIn(c.data());
    expect(responses.map((r) => r.status)).toEqual([200]);
  });
});

describe("answers Node gives before a route runs come in the route's error shape", () => {
  it("headers over the limit: 431, OpenAI's shape under /v1/, TGI's elsewhere", async () => {
    for (const [path, shape] of [["/v1/completions", "openai"], ["/generate", "tgi"]] as const) {
      const c = await connect(running.url);
      c.socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\ncontent-length: 2\r\n\r\n{}`);
      await c.closed;
      const [res] = responsesIn(c.data());
      expect(res.status).toBe(431);
      const body = JSON.parse(res.body);
      if (shape === "openai") expect(body.error).toMatchObject({ code: "HEADERS_TOO_LARGE", param: "headers", type: "invalid_request_error" });
      else expect(body).toMatchObject({ code: "HEADERS_TOO_LARGE", param: "headers", error_type: "validation" });
    }
  });

  it("a path that is not a valid URL: 400 MALFORMED_REQUEST naming path, in the route's shape", async () => {
    const c = await connect(running.url);
    c.socket.write(httpRequest("GET", "/v1/%zz"));
    await until(() => responsesIn(c.data()).length > 0);
    c.socket.destroy();
    const [res] = responsesIn(c.data());
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatchObject({ code: "MALFORMED_REQUEST", param: "path" });
  });

  it("a request that is not HTTP: 400 MALFORMED_REQUEST", async () => {
    const c = await connect(running.url);
    c.socket.write("HELLO THERE\r\n\r\n");
    await c.closed;
    const [res] = responsesIn(c.data());
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "MALFORMED_REQUEST" });
  });
});

describe("the connection limit", () => {
  it("a connection over maxConnections takes the place of the one idle longest; with every one busy it is closed unanswered", async () => {
    const limited = await startServer({ maxConnections: 3 });
    try {
      // three clients that send no headers hold every place: a normal client still gets in, closing the oldest
      const slow = [];
      for (let i = 0; i < 3; i++) {
        slow.push(await connect(limited.url));
        await until(async () => (await connectionsOf(limited)) === i + 1);
      }
      const normal = await connect(limited.url);
      await slow[0].closed;
      expect(slow[0].data()).toBe("");
      normal.socket.write(httpRequest("GET", "/health"));
      await until(() => responsesIn(normal.data()).length === 1);
      expect(responsesIn(normal.data())[0].status).toBe(200);
      for (const c of [...slow, normal]) c.socket.destroy();
      await until(async () => (await connectionsOf(limited)) === 0);

      // three connections each with a generation in flight: the newcomer is the one closed
      const busy = await Promise.all([0, 1, 2].map(() => connect(limited.url)));
      for (const c of busy) c.socket.write(httpRequest("POST", "/v1/completions", completion(true, 1000)));
      await until(() => busy.every((c) => c.data().includes("data: ")));
      const over = await connect(limited.url);
      await over.closed;
      expect(over.data()).toBe("");
      expect(busy.every((c) => !c.socket.destroyed)).toBe(true);
      for (const c of busy) c.socket.destroy();
      await until(async () => (await connectionsOf(limited)) === 0);

      const text = await (await fetch(`${limited.url}/metrics`)).text();
      expect(metric(text, "actorlm_connections_closed_total", { reason: "evicted" })).toBe(1);
      expect(metric(text, "actorlm_connections_closed_total", { reason: "limit" })).toBe(1);
    } finally {
      await limited.close();
    }
  });
});

describe("shutdown", () => {
  it("a request arriving on a kept-alive connection during shutdown gets 503 in its route's shape, then the connection closes", async () => {
    const server = await startServer();
    const c = await connect(server.url);
    c.socket.write(httpRequest("POST", "/v1/completions", completion(true, 40)));
    await until(async () => c.data().includes("data: "));
    const closing = server.server.close(60_000);
    c.socket.write(httpRequest("POST", "/v1/completions", completion(false, 2)));
    await c.closed;
    await closing;
    const [stream, refused] = responsesIn(c.data());
    expect(stream.status).toBe(200);
    expect(stream.body).toContain("data: [DONE]");
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe("close");
    expect(refused.headers["retry-after"]).toBe("1");
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: "NOT_READY", type: "service_unavailable_error", message: "the server is shutting down" } });
  });
});

/** Open connections of a server, as its HTTP server counts them. */
function connectionsOf(r: Running): Promise<number> {
  return new Promise((resolve, reject) => r.server.app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
}

/** Resolves once `ok()` holds, asked again every 10 ms. */
async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ok())) await new Promise((resolve) => setTimeout(resolve, 10));
}
