/**
 * Sequence over a stub model (fixed logits, no weights), stepped as the scheduler steps it: it gives the sampler the
 * prompt for the repetition penalty and only generated tokens for frequency / presence, and a finished sequence
 * refuses to sample again.
 */
import { InferenceError } from "@actorlm/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { JsKernels } from "@actorlm/tensor";
import { BlockManager } from "../../packages/llm/src/generation/block-manager.js";
import { KvStorage } from "../../packages/llm/src/kv-cache.js";
import type { CausalLM } from "../../packages/llm/src/models/causal-lm.js";
import { EMBEDDED_MODEL_DIR } from "../../packages/llm/src/embedded-model.js";
import { Sequence } from "../../packages/llm/src/generation/sequence.js";
import { validateRequest, type GenerateRequest } from "../../packages/llm/src/generation/request.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";

const PROMPT = "Blessed are the";
let tok: Tokenizer;
let promptIds: number[];
let inPrompt: number; // the stub's favourite token, which the prompt contains
const OTHER = 500; // the runner-up, not in the prompt
beforeAll(async () => {
  tok = await Tokenizer.fromDir(EMBEDDED_MODEL_DIR);
  promptIds = tok.encode(PROMPT);
  inPrompt = promptIds[1];
  expect(promptIds).not.toContain(OTHER);
  expect(tok.isSpecial(inPrompt) || tok.isSpecial(OTHER)).toBe(false);
});

/** A model whose every position's logits are 5 for `inPrompt`, 4 for OTHER and 0 elsewhere. */
function stubModel(): CausalLM {
  const vocabSize = tok.vocabSize;
  const logits = new Float32Array(vocabSize);
  logits[inPrompt] = 5;
  logits[OTHER] = 4;
  const kernels = new JsKernels();
  return {
    config: { vocabSize, maxPositionEmbeddings: 64 },
    kernels,
    kv: new KvStorage(kernels, { layers: 1, kvHeads: 1, headDim: 2, blockSize: 16, blocks: 4 }),
    maxBatchTokens: 512,
    maxLogitRows: 64,
    weightBytesPerToken: 0,
    productValuesPerToken: 0,
    forward: () => logits,
    dispose: async () => undefined,
  };
}

/** One step of `sequence` as the scheduler runs it: its pending tokens through the (stub) model, then a sample. */
function step(sequence: Sequence, model: CausalLM): ReturnType<Sequence["sample"]> {
  const n = sequence.pending;
  const logits = model.forward([{ tokens: sequence.input(n), start: sequence.cached, blocks: sequence.kv.blocks }]);
  sequence.advance(n);
  return sequence.sample(logits);
}

/** The ids of a greedy run of `request` (temperature 0, `maxTokens` steps) over the stub model. */
function run(request: Omit<GenerateRequest, "prompt">, maxTokens: number): { ids: number[]; sequence: Sequence; model: CausalLM } {
  const normalized = validateRequest({ prompt: PROMPT, temperature: 0, ...request }, { maxSequenceLength: 64, maxStopSequences: 4 });
  const model = stubModel();
  const sequence = new Sequence(tok, normalized, promptIds, maxTokens, new BlockManager(model.kv).sequence());
  const ids: number[] = [];
  for (let i = 0; i < maxTokens; i++) ids.push(step(sequence, model).tokenId);
  return { ids, sequence, model };
}

describe("Sequence", () => {
  it("frequency / presence penalties ignore the prompt and count what it generated", () => {
    expect(run({}, 3).ids).toEqual([inPrompt, inPrompt, inPrompt]);
    // step 1: the prompt's token is not penalized; step 2: generated once, 5 − 2 − 2 < 4
    expect(run({ frequencyPenalty: 2, presencePenalty: 2 }, 2).ids).toEqual([inPrompt, OTHER]);
    expect(run({ presencePenalty: 1.5 }, 2).ids).toEqual([inPrompt, OTHER]);
  });

  it("the repetition penalty sees the prompt", () => {
    // step 1: seen in the prompt, 5 / 2 < 4; step 2: both seen, 5 / 2 > 4 / 2
    expect(run({ repetitionPenalty: 2 }, 2).ids).toEqual([OTHER, inPrompt]);
  });

  it("a finished sequence refuses another step with VALIDATION", () => {
    const { sequence, model } = run({}, 1);
    let error: unknown;
    try {
      step(sequence, model);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InferenceError);
    expect((error as InferenceError).code).toBe("VALIDATION");
  });
});
