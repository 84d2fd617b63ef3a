/**
 * Constrained decoding through the runtime (the embedded model in a real worker, the streaming handler, grammars
 * converted on a real pool thread): every output of 53 schemas parses and validates, greedy and sampled; regex, EBNF
 * and json_object grammars hold; a grammar that cannot finish in the budget ends with "length"; bad schemas are
 * refused naming the path or the keyword.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { collectCompletion, requestLimits, tokenizeRequest, validateRequest, type GenerateRequest, type TokenOutput } from "@actorlm/llm";
import { drain, hostModel, rejection, type Hosted } from "../generation/helpers.js";
import { SCHEMAS } from "./schemas.js";
import { validates } from "./validate.js";

let model: Hosted;
beforeAll(async () => {
  model = await hostModel();
});
afterAll(() => model.close());
afterEach(async () => {
  expect(await model.host.call("activeSequences")).toBe(0);
});

const PROMPT = "And the LORD said unto Moses,";

async function run(request: GenerateRequest): Promise<TokenOutput[]> {
  return drain(model.inference.infer(request).spawn());
}

describe("JSON Schema", () => {
  it("has at least 50 schemas", () => {
    expect(SCHEMAS.length).toBeGreaterThanOrEqual(50);
  });

  for (const mode of [{ temperature: 0 }, { temperature: 1, seed: 7 }] as const) {
    it(`every output parses and validates (${mode.temperature === 0 ? "greedy" : "sampled"}), all 53 in one batch`, async () => {
      const results = await Promise.all(
        SCHEMAS.map(async ({ name, schema }) => ({ name, schema, outputs: await run({ prompt: PROMPT, maxTokens: 160, ...mode, grammar: { type: "json_schema", schema } }) })),
      );
      const stats = await model.host.call("grammarStats");
      expect(stats.compiled + stats.cacheHits).toBeGreaterThanOrEqual(SCHEMAS.length); // each compiled once, on the grammar thread
      expect(stats.masks).toBeGreaterThan(0);
      for (const { name, schema, outputs } of results) {
        const { text, finishReason } = collectCompletion(outputs);
        expect(finishReason, `${name}: ${text}`).toBe("stop");
        expect(validates(text, schema), `${name}: ${text}`).toEqual({ ok: true });
      }
    }, 240_000);
  }

  it("json_object gives a JSON object", async () => {
    const { text, finishReason } = collectCompletion(await run({ prompt: PROMPT, maxTokens: 200, temperature: 0, grammar: { type: "json_object" } }));
    if (finishReason === "stop") expect(typeof JSON.parse(text)).toBe("object");
    expect(text.startsWith("{")).toBe(true);
  });

  it("a grammar that cannot finish within maxTokens ends with length", async () => {
    const schema = { type: "object", properties: { name: { type: "string", minLength: 40 } }, required: ["name"], additionalProperties: false };
    const outputs = await run({ prompt: PROMPT, maxTokens: 12, temperature: 0, grammar: { type: "json_schema", schema } });
    expect(outputs.length).toBe(12);
    expect(collectCompletion(outputs).finishReason).toBe("length");
    expect(collectCompletion(outputs).text.startsWith('{"name')).toBe(true);
  });
});

describe("regex and EBNF", () => {
  it("regex: the whole output matches", async () => {
    const pattern = "(Moses|Aaron|Joshua) (went|came) (up|down) [0-9]{1,2} times";
    for (const mode of [{ temperature: 0 }, { temperature: 1, seed: 3 }]) {
      const { text, finishReason } = collectCompletion(await run({ prompt: PROMPT, maxTokens: 40, ...mode, grammar: { type: "regex", pattern } }));
      expect(finishReason).toBe("stop");
      expect(text).toMatch(new RegExp(`^(?:${pattern})$`));
    }
  });

  it("EBNF: the whole output is in the language", async () => {
    const grammar = 'root ::= verse (", " verse)*\nverse ::= book " " [1-9] ":" [1-9]\nbook ::= "John" | "Acts" | "Ruth"';
    const { text, finishReason } = collectCompletion(await run({ prompt: PROMPT, maxTokens: 60, temperature: 0, grammar: { type: "ebnf", grammar } }));
    if (finishReason === "stop") expect(text).toMatch(/^(John|Acts|Ruth) [1-9]:[1-9](, (John|Acts|Ruth) [1-9]:[1-9])*$/);
    else expect(text).toMatch(/^(John|Acts|Ruth) [1-9]:[1-9]/);
  });

  it("a constrained request and free ones share the batch: the free ones still give the reference tokens", async () => {
    const free = { prompt: "In the beginning", maxTokens: 30, temperature: 0 };
    const alone = (await run(free)).map((o) => o.tokenId);
    const schema = SCHEMAS[0].schema;
    const [a, b, c] = await Promise.all([run(free), run({ prompt: PROMPT, maxTokens: 60, temperature: 0, grammar: { type: "json_schema", schema } }), run(free)]);
    expect(a.map((o) => o.tokenId)).toEqual(alone);
    expect(c.map((o) => o.tokenId)).toEqual(alone);
    expect(validates(collectCompletion(b).text, schema)).toEqual({ ok: true });
  });
});

describe("refusals", () => {
  const refuse = async (grammar: unknown) => rejection(run({ prompt: PROMPT, maxTokens: 8, grammar: grammar as GenerateRequest["grammar"] }), "VALIDATION");

  it("an invalid schema names the path inside it", async () => {
    const error = await refuse({ type: "json_schema", schema: { type: "object", properties: { age: { type: "intger" } } } });
    expect(error.field).toBe("grammar.schema.properties.age.type");
    expect((await refuse({ type: "json_schema", schema: { type: "object", required: "name" } })).field).toBe("grammar.schema.required");
    expect((await refuse({ type: "json_schema", schema: { properties: { a: { $ref: "#/$defs/missing" } } } })).field).toBe("grammar.schema.properties.a.$ref");
    expect((await refuse({ type: "json_schema", schema: { type: "array", items: { type: "string", pattern: "([a-z" } } })).field).toBe("grammar.schema.items.pattern");
  });

  it("an unsupported keyword is named", async () => {
    expect((await refuse({ type: "json_schema", schema: { type: "string", format: "ipv4" } })).field).toBe("grammar.schema.format");
    for (const keyword of ["not", "uniqueItems", "multipleOf", "if"]) {
      const error = await refuse({ type: "json_schema", schema: { type: "object", properties: { x: { type: "integer", [keyword]: keyword === "not" || keyword === "if" ? { const: 1 } : keyword === "multipleOf" ? 3 : true } } } });
      expect(error.field).toBe(`grammar.schema.properties.x.${keyword}`);
      expect(error.message).toContain(`"${keyword}"`);
    }
  });

  it("a bad spec or an EBNF grammar xgrammar refuses is VALIDATION naming the field", async () => {
    expect((await refuse({ type: "yaml" })).field).toBe("grammar.type");
    expect((await refuse({ type: "regex", pattern: "(" })).field).toBe("grammar.pattern");
    const error = await refuse({ type: "ebnf", grammar: "root ::= missing" });
    expect(error.field).toBe("grammar.grammar");
    expect(error.message).toContain("missing");
  });

  it("the model still serves constrained requests after xgrammar refused one", async () => {
    await refuse({ type: "ebnf", grammar: "root ::= (" });
    const { text } = collectCompletion(await run({ prompt: PROMPT, maxTokens: 20, temperature: 0, grammar: { type: "regex", pattern: "(yes|no)" } }));
    expect(["yes", "no"]).toContain(text);
  });
});

describe("LlmEngine.submit directly", () => {
  it("converts a JSON Schema in the model worker when no handler converted it first", async () => {
    const schema = SCHEMAS[0].schema;
    const info = await model.host.call("info");
    const request = await tokenizeRequest(validateRequest({ prompt: PROMPT, maxTokens: 60, temperature: 0, grammar: { type: "json_schema", schema } }, requestLimits(info)), info.model);
    const { id } = await model.host.call("submit", request);
    let text = "";
    for (let done = false; !done; ) {
      for (const step of await model.host.call("next", id)) {
        text += step.text;
        done = step.finishReason !== undefined;
      }
    }
    expect(validates(text, schema)).toEqual({ ok: true });
  });
});

describe("paths with any key", () => {
  it("a property name with a space or a dot is one key of the path", async () => {
    const error = await rejection(run({ prompt: PROMPT, maxTokens: 8, grammar: { type: "json_schema", schema: { type: "object", properties: { "first name.x": { type: "strin" } } } } }), "VALIDATION");
    expect(error.path).toEqual(["grammar", "schema", "properties", "first name.x", "type"]);
  });
});
