import { describe, expect, it } from "vitest";
import { fitMaxTokens, validateRequest, DEFAULT_SAMPLING } from "../../packages/llm/src/generation/request.js";
import { LlmError } from "../../packages/llm/src/errors.js";

const limits = { maxSequenceLength: 1024, maxStopSequences: 4 };

/** The VALIDATION error validateRequest throws for `req`. */
function errorOf(req: unknown): LlmError {
  try {
    validateRequest(req, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(LlmError);
    return e as LlmError;
  }
  throw new Error("expected a validation error");
}

describe("validateRequest", () => {
  it("fills in defaults", () => {
    const r = validateRequest({ prompt: "In the beginning" }, limits);
    expect(r).toEqual({ prompt: "In the beginning", maxTokens: null, stop: [], sampling: { ...DEFAULT_SAMPLING } });
    expect(r.sampling.temperature).toBe(1);
    expect(validateRequest({ prompt: "x", maxTokens: null, temperature: null }, limits).maxTokens).toBe(null);
  });

  it("keeps every valid field", () => {
    const r = validateRequest(
      {
        prompt: "p",
        maxTokens: 7,
        temperature: 0,
        topK: 40,
        topP: 1,
        minP: 0.05,
        repetitionPenalty: 1.1,
        frequencyPenalty: -2,
        presencePenalty: 2,
        seed: -12345,
        stop: ["\n", "Amen"],
      },
      limits,
    );
    expect(r).toEqual({
      prompt: "p",
      maxTokens: 7,
      stop: ["\n", "Amen"],
      sampling: {
        temperature: 0,
        topK: 40,
        topP: 1,
        minP: 0.05,
        repetitionPenalty: 1.1,
        frequencyPenalty: -2,
        presencePenalty: 2,
        seed: -12345,
      },
    });
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ["empty prompt", { prompt: "" }, "prompt"],
    ["missing prompt", { prompt: undefined }, "prompt"],
    ["numeric prompt", { prompt: 3 }, "prompt"],
    ["maxTokens 0", { maxTokens: 0 }, "maxTokens"],
    ["maxTokens fractional", { maxTokens: 1.5 }, "maxTokens"],
    ["maxTokens string", { maxTokens: "10" }, "maxTokens"],
    ["temperature < 0", { temperature: -0.1 }, "temperature"],
    ["temperature NaN", { temperature: NaN }, "temperature"],
    ["temperature Infinity", { temperature: Infinity }, "temperature"],
    ["topP 0", { topP: 0 }, "topP"],
    ["topP > 1", { topP: 1.01 }, "topP"],
    ["topK 0", { topK: 0 }, "topK"],
    ["topK fractional", { topK: 2.5 }, "topK"],
    ["minP 1", { minP: 1 }, "minP"],
    ["minP < 0", { minP: -0.1 }, "minP"],
    ["repetitionPenalty 0", { repetitionPenalty: 0 }, "repetitionPenalty"],
    ["frequencyPenalty > 2", { frequencyPenalty: 2.1 }, "frequencyPenalty"],
    ["presencePenalty < -2", { presencePenalty: -3 }, "presencePenalty"],
    ["presencePenalty bool", { presencePenalty: true }, "presencePenalty"],
    ["seed fractional", { seed: 0.5 }, "seed"],
    ["seed unsafe", { seed: 2 ** 53 }, "seed"],
    ["stop not an array", { stop: "\n" }, "stop"],
    ["too many stops", { stop: ["a", "b", "c", "d", "e"] }, "stop"],
    ["empty stop", { stop: ["a", ""] }, "stop[1]"],
    ["non-string stop", { stop: [3] }, "stop[0]"],
  ];
  it.each(bad)("rejects %s, naming the field", (_name, fields, field) => {
    const e = errorOf({ prompt: "In the beginning", ...fields });
    expect(e.code).toBe("VALIDATION");
    expect(e.field).toBe(field);
    expect(e.message).toContain(field);
  });

  it.each([
    ["max_tokens", "maxTokens"],
    ["max_new_tokens", "maxTokens"],
    ["temprature", "temperature"],
    ["top_p", "topP"],
    ["TopK", "topK"],
    ["stop_sequences", "stop"],
  ])("refuses the unknown field %s, naming it, with the hint %s", (name, hint) => {
    const e = errorOf({ prompt: "In the beginning", [name]: 2 });
    expect(e.code).toBe("VALIDATION");
    expect(e.field).toBe(name);
    expect(e.message).toBe(`${name}: unknown field (did you mean ${hint}?)`);
  });

  it("refuses an unknown field unlike any known one without a hint", () => {
    const e = errorOf({ prompt: "In the beginning", echo: true });
    expect(e.field).toBe("echo");
    expect(e.message).toBe("echo: unknown field");
  });

  it("accepts fields present but undefined (as an object spread or a CLI leaves them)", () => {
    expect(validateRequest({ prompt: "x", maxTokens: undefined, stop: undefined }, limits).maxTokens).toBe(null);
  });

  it("refuses a prompt of more than maxPromptBytes UTF-8 bytes without tokenizing it", () => {
    const bounded = { ...limits, maxPromptBytes: 12 };
    expect(validateRequest({ prompt: "abcd" }, bounded).prompt).toBe("abcd"); // 4 bytes
    expect(validateRequest({ prompt: "éééééé" }, bounded).prompt).toBe("éééééé"); // 12 bytes: fits
    for (const prompt of ["é".repeat(7), "x".repeat(13), "🙂🙂🙂🙂"]) {
      const e = (() => {
        try {
          validateRequest({ prompt }, bounded);
        } catch (error) {
          return error as LlmError;
        }
        throw new Error("expected a refusal");
      })();
      expect(e.code).toBe("VALIDATION");
      expect(e.field).toBe("prompt");
    }
    expect(validateRequest({ prompt: "🙂🙂🙂" }, bounded).prompt).toBe("🙂🙂🙂"); // 12 bytes
  });

  it("rejects a non-object request", () => {
    for (const req of [null, "prompt", [], 3]) expect(errorOf(req).field).toBe("request");
  });
});

describe("fitMaxTokens", () => {
  const fit = { maxSequenceLength: 1024, maxStopSequences: 4 };
  it("accepts a request that exactly fills the context", () => {
    expect(fitMaxTokens(1000, 24, fit)).toBe(24);
  });
  it("refuses maxTokens that leave no room for any prompt (validateRequest leaves lengths to it)", () => {
    expect(validateRequest({ prompt: "x", maxTokens: 1024 }, limits).maxTokens).toBe(1024);
    expect(() => fitMaxTokens(1, 1024, fit)).toThrow(expect.objectContaining({ code: "VALIDATION", field: "maxTokens", path: ["maxTokens"] }));
  });
  it("refuses one that does not fit, naming maxTokens or prompt", () => {
    expect(() => fitMaxTokens(1000, 25, fit)).toThrow(expect.objectContaining({ code: "VALIDATION", field: "maxTokens" }));
    expect(() => fitMaxTokens(1024, 1, fit)).toThrow(expect.objectContaining({ code: "VALIDATION", field: "prompt" }));
    expect(() => fitMaxTokens(1024, null, fit)).toThrow(expect.objectContaining({ code: "VALIDATION", field: "prompt" }));
  });
  it("without maxTokens gives the default, shrunk to the room the prompt leaves", () => {
    expect(fitMaxTokens(4, null, fit)).toBe(256);
    expect(fitMaxTokens(4, null, { ...fit, defaultMaxTokens: 50 })).toBe(50);
    expect(fitMaxTokens(900, null, fit)).toBe(124);
    expect(fitMaxTokens(1023, null, fit)).toBe(1);
  });
});
