import { Cancel, InferenceBuilder, In, Model, Out, State, defineExtractor, handler, type CancelToken } from "@actorlm/runtime";
import { describe, expect, it } from "vitest";
import { Counter } from "../fixtures/runtime/counter.mjs";
import { rejection, useCounterHost } from "./helpers.js";
import { ModelHost } from "@actorlm/runtime";

interface Req {
  add: number;
}

describe("parameter injection", () => {
  const shared = useCounterHost({ start: 10 });

  it("supplies request, model, cancel token, output stream, state and custom values in declared order", async () => {
    const Tenant = defineExtractor<string>("Tenant");
    const Clock = defineExtractor<number>("Clock");
    let seenCancel: CancelToken | undefined;
    const h = handler(
      [Out<string>(), State<{ user: string }>(), Tenant, In<Req>(), Model<Counter>(), Cancel(), Clock],
      async (out, state, tenant, req, model, cancel, clock) => {
        seenCancel = cancel;
        const value = await model.call("add", req.add);
        await out.emit(`${tenant}/${state.user}/${value}/${clock}/${cancel.cancelled}`);
      },
    );
    const inference = await new InferenceBuilder()
      .withModel(shared.host)
      .extractor(Tenant, (ctx) => `tenant-${(ctx.request as Req).add}-${String((ctx.state as { user: string }).user)}`)
      .extractor(Clock, async (ctx) => ctx.jobId * 0 + 42)
      .build(h);
    const out = await inference.infer({ add: 5 }).withState({ user: "ann" }).run();
    expect(out).toEqual(["tenant-5-ann/ann/15/42/false"]);
    expect(seenCancel?.signal).toBeInstanceOf(AbortSignal);
    await inference.close();
  });

  it("gives Model() a view with call, withSignal and state only, not the host", async () => {
    const h = handler([Model<Counter>()], (model) => {
      const signalled = model.withSignal(new AbortController().signal);
      return {
        keys: Object.keys(model).sort(),
        signalledKeys: Object.keys(signalled).sort(),
        isHost: model instanceof ModelHost || signalled instanceof ModelHost,
        frozen: Object.isFrozen(model) && Object.isFrozen(signalled),
        state: model.state,
      };
    });
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const keys = ["call", "state", "withSignal"];
    expect(await inference.infer(undefined).run()).toEqual([{ keys, signalledKeys: keys, isHost: false, frozen: true, state: "ready" }]);
    await inference.close();
  });

  it("emits a returned value as the single output: exactly the value the handler returned", async () => {
    const h = handler([In<number>(), Model<Counter>()], async (n, model) => ({ before: (await model.call("stats")).count, after: await model.call("add", n) }));
    const inference = await new InferenceBuilder().withModel(shared.host).build(h);
    const [first] = await inference.infer(7).run();
    expect(first.after).toBe(first.before + 7);
    expect(await inference.infer(5).run()).toEqual([{ before: first.after, after: first.after + 5 }]);
    await inference.close();
  });

  it("runs a handler that needs no model without one", async () => {
    const h = handler([In<string>()], (s) => s.toUpperCase());
    const inference = await new InferenceBuilder().build(h);
    expect(await inference.infer("abc").run()).toEqual(["ABC"]);
    expect(inference.state).toBe("ready");
    await inference.close();
  });

  it("fails build() with VALIDATION naming a parameter no extractor supplies", async () => {
    const Db = defineExtractor<{ query(): number }>("Db");
    const h = handler([In<number>(), Db], (n, db) => n + db.query());
    const error = await rejection(new InferenceBuilder().withModel(shared.host).build(h), "VALIDATION");
    expect(error.message).toContain("#1");
    expect(error.message).toContain("Db");
  });

  it("fails build() with VALIDATION naming the Model parameter when the builder has no model", async () => {
    const h = handler([Cancel(), Model<Counter>()], (_cancel, model) => model.call("add", 1));
    const error = await rejection(new InferenceBuilder().build(h), "VALIDATION");
    expect(error.message).toContain("#1");
    expect(error.message).toContain("Model");
  });

  it("fails build() with VALIDATION for something that is not a handler", async () => {
    const fake = { name: "fake", params: [], fn: () => 1 };
    await rejection(new InferenceBuilder().build(fake), "VALIDATION");
  });

  it("fails a job with VALIDATION when the handler needs state and none was given", async () => {
    const h = handler([State<number>()], (s) => s + 1);
    const inference = await new InferenceBuilder().build(h);
    const error = await rejection(inference.infer(undefined).spawn().join(), "VALIDATION");
    expect(error.message).toContain("#0");
    expect(await inference.infer(undefined).withState(1).run()).toEqual([2]);
    await inference.close();
  });

  it("builder options reject bad values", () => {
    expect(() => new InferenceBuilder().withBufferSize(0)).toThrow(RangeError);
    expect(() => new InferenceBuilder().withMaxJobs(1.5)).toThrow(RangeError);
  });
});
