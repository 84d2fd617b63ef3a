import { readFileSync } from "node:fs";
import {
  ERROR_CODES,
  formatFieldPath,
  toFieldPath,
  ERROR_STATUS,
  InferenceError,
  InferenceBuilder,
  Model,
  handler,
  In,
  isErrorCode,
  serializeError,
  deserializeError,
  Out,
  registerErrorClass,
  type ErrorCode,
} from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import type { Counter } from "../fixtures/runtime/counter.mjs";
import { rejection, useCounterHost } from "./helpers.js";

describe("error catalogue", () => {
  it("has one HTTP status per code", () => {
    expect([...ERROR_CODES]).toEqual(["VALIDATION", "OVERLOADED", "NOT_READY", "CANCELLED", "HANDLER_FAILED", "WORKER_CRASHED", "MODEL_LOAD", "NON_FINITE"]);
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

  it("serializes and rebuilds field, file, name and a registered subclass", () => {
    class PathError extends InferenceError {
      override readonly name = "PathError";
    }
    const original = new PathError("MODEL_LOAD", "bad file", { field: "model", file: "/m/config.json" });
    const plain = deserializeError(structuredClone(serializeError(original))) as InferenceError;
    expect(plain).toBeInstanceOf(InferenceError);
    expect(plain).not.toBeInstanceOf(PathError);
    expect({ name: plain.name, code: plain.code, field: plain.field, file: plain.file }).toEqual({ name: "PathError", code: "MODEL_LOAD", field: "model", file: "/m/config.json" });
    registerErrorClass("PathError", (code, message, options) => new PathError(code, message, options));
    const restored = deserializeError(structuredClone(serializeError(original))) as InferenceError;
    expect(restored).toBeInstanceOf(PathError);
    expect({ code: restored.code, field: restored.field, file: restored.file, message: restored.message }).toEqual({ code: "MODEL_LOAD", field: "model", file: "/m/config.json", message: "bad file" });
    expect(new InferenceError("VALIDATION", "x", { field: "topP" }).toJSON()).toEqual({ code: "VALIDATION", status: 422, message: "x", field: "topP" });
  });

  it("a field is a path: written out as the library writes it, split from the message's detail, kept across a thread", () => {
    const error = new InferenceError("VALIDATION", "messages[2].content: must be a string", { field: ["messages", 2, "content"] });
    expect({ path: error.path, field: error.field, detail: error.detail }).toEqual({ path: ["messages", 2, "content"], field: "messages[2].content", detail: "must be a string" });
    expect(new InferenceError("VALIDATION", "stop[1]: must not be empty", { field: "stop[1]" }).path).toEqual(["stop", 1]);
    expect(new InferenceError("VALIDATION", "must not be empty", { field: "prompt" }).detail).toBe("must not be empty");
    expect(new InferenceError("VALIDATION", "no field").detail).toBe("no field");
    const back = deserializeError(structuredClone(serializeError(error))) as InferenceError;
    expect({ path: back.path, field: back.field, detail: back.detail }).toEqual({ path: ["messages", 2, "content"], field: "messages[2].content", detail: "must be a string" });
    expect(formatFieldPath(["parameters", "stop", 0])).toBe("parameters.stop[0]");
    expect(toFieldPath("a.b[3].c")).toEqual(["a", "b", 3, "c"]);
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
  const shared = useCounterHost({ start: 0 });

  it("keeps the code of an InferenceError thrown in the worker", async () => {
    for (const code of ["VALIDATION", "OVERLOADED", "NOT_READY"] satisfies ErrorCode[]) {
      const error = await rejection(shared.host.call("fail", code), code);
      expect(error.message).toContain(code);
    }
  });

  it("keeps the field and file of an InferenceError thrown in the worker", async () => {
    const error = await rejection(shared.host.call("fail", "VALIDATION", "prompt", "/models/x/tokenizer.json"), "VALIDATION");
    expect(error.field).toBe("prompt");
    expect(error.file).toBe("/models/x/tokenizer.json");
    const bare = await rejection(shared.host.call("fail", "OVERLOADED"), "OVERLOADED");
    expect(bare.field).toBeUndefined();
  });

  it("a job fails with the code a model operation threw", async () => {
    const h = handler([In<ErrorCode>(), Model<Counter>()], async (code, model) => {
      await model.call("fail", code);
    });
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const job = inference.infer("OVERLOADED").spawn();
    await rejection(job.join(), "OVERLOADED");
    await inference.close();
  });

  it("keeps name and message of a plain error; the job fails with HANDLER_FAILED and it as cause", async () => {
    const plain = await shared.host.call("failPlain").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(plain?.name).toBe("TypeError");
    expect(plain?.message).toBe("plain failure");
    const h = handler([Model<Counter>()], async (model) => {
      await model.call("failPlain");
    });
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const error = await rejection(inference.infer(undefined).spawn().join(), "HANDLER_FAILED");
    expect((error.cause as Error).name).toBe("TypeError");
    await inference.close();
  });

  it("rejects unknown operations, unclonable arguments and unclonable results with VALIDATION, and the worker lives on", async () => {
    await rejection(shared.host.call("nope" as "add", 1), "VALIDATION");
    await rejection(shared.host.call("add", (() => 1) as unknown as number), "VALIDATION");
    await rejection(shared.host.call("unclonable"), "VALIDATION");
    expect(await shared.host.call("add", 2)).toBe(2);
    expect(shared.host.state).toBe("ready");
  });
});

describe("misuse of a job's stream", () => {
  it("a second consumer waiting at the same time gets VALIDATION", async () => {
    const release = new AbortController();
    const slow = handler([Out<number>()], async (out) => {
      await new Promise((resolve) => release.signal.addEventListener("abort", resolve));
      await out.emit(1);
    });
    const inference = await new InferenceBuilder().build(slow);
    const job = inference.infer(undefined).spawn();
    const first = job.stream[Symbol.asyncIterator]().next();
    await rejection(job.stream[Symbol.asyncIterator]().next(), "VALIDATION");
    release.abort();
    expect(await first).toEqual({ value: 1, done: false });
    await job.join();
    await inference.close();
  });
});
