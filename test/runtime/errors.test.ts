import { readFileSync } from "node:fs";
import {
  ERROR_CODES,
  ERROR_STATUS,
  InferenceError,
  InferenceBuilder,
  Model,
  handler,
  In,
  isErrorCode,
  serializeError,
  deserializeError,
  ModelHost,
  type ErrorCode,
} from "@actorlm/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { rejection } from "./helpers.js";

describe("error catalogue", () => {
  it("has one HTTP status per code", () => {
    expect([...ERROR_CODES]).toEqual(["VALIDATION", "OVERLOADED", "NOT_READY", "CANCELLED", "HANDLER_FAILED", "WORKER_CRASHED", "MODEL_LOAD"]);
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      const error = new InferenceError(code, "x");
      expect(error.status).toBe(ERROR_STATUS[code]);
      expect(error).toBeInstanceOf(Error);
      expect(error.toJSON()).toEqual({ code, status: ERROR_STATUS[code], message: "x" });
      expect(isErrorCode(code)).toBe(true);
    }
    expect(ERROR_STATUS.VALIDATION).toBe(422);
    expect(ERROR_STATUS.OVERLOADED).toBe(429);
    expect(ERROR_STATUS.NOT_READY).toBe(503);
    expect(isErrorCode("NOPE")).toBe(false);
  });

  it("agrees with the table in packages/runtime/README.md", () => {
    const readme = readFileSync(new URL("../../packages/runtime/README.md", import.meta.url), "utf8");
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual({ ...ERROR_STATUS });
  });

  it("serializes and rebuilds errors with code, message and cause", () => {
    const inner = new TypeError("inner");
    const outer = new InferenceError("HANDLER_FAILED", "outer", { cause: inner });
    const data = structuredClone(serializeError(outer));
    const back = deserializeError(data);
    expect(back).toBeInstanceOf(InferenceError);
    expect((back as InferenceError).code).toBe("HANDLER_FAILED");
    expect(back.message).toBe("outer");
    expect((back.cause as Error).name).toBe("TypeError");
    expect((back.cause as Error).message).toBe("inner");
    expect(serializeError("text")).toEqual({ name: "Error", message: "text" });
  });
});

describe("errors crossing the worker boundary", () => {
  let host: ModelHost<Counter>;
  beforeAll(async () => {
    host = await ModelHost.start(Counter, { start: 0 });
  });
  afterAll(async () => {
    await host.close();
  });

  it("keeps the code of an InferenceError thrown in the worker", async () => {
    for (const code of ["VALIDATION", "OVERLOADED", "NOT_READY"] satisfies ErrorCode[]) {
      const error = await rejection(host.call("fail", code), code);
      expect(error.message).toContain(code);
    }
  });

  it("a job fails with the code a model operation threw", async () => {
    const h = handler([In<ErrorCode>(), Model<Counter>()], async (code, model) => {
      await model.call("fail", code);
    });
    const inference = await new InferenceBuilder().withModel(host).build(h);
    const job = inference.infer("OVERLOADED").spawn();
    await rejection(job.join(), "OVERLOADED");
    await inference.close();
  });

  it("keeps name and message of a plain error; the job fails with HANDLER_FAILED and it as cause", async () => {
    const plain = await host.call("failPlain").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(plain?.name).toBe("TypeError");
    expect(plain?.message).toBe("plain failure");
    const h = handler([Model<Counter>()], async (model) => {
      await model.call("failPlain");
    });
    const inference = await new InferenceBuilder().withModel(host).build(h);
    const error = await rejection(inference.infer(undefined).spawn().join(), "HANDLER_FAILED");
    expect((error.cause as Error).name).toBe("TypeError");
    await inference.close();
  });

  it("rejects unknown operations, unclonable arguments and unclonable results with VALIDATION, and the worker lives on", async () => {
    await rejection(host.call("nope" as "add", 1), "VALIDATION");
    await rejection(host.call("add", (() => 1) as unknown as number), "VALIDATION");
    await rejection(host.call("unclonable"), "VALIDATION");
    expect(await host.call("add", 2)).toBe(2);
    expect(host.state).toBe("ready");
  });
});
