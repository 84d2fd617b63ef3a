/**
 * Opt-in: the same GGUF files through llama.cpp itself (node-llama-cpp's prebuilt CPU build) and through this engine.
 * Set ACTORLM_NODE_LLAMA_CPP to an installed node-llama-cpp package folder (it is not a dependency: `npm install
 * node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 --omit=optional --ignore-scripts` in any folder installs it
 * without downloads or builds). kjv-llama converted to F16 and to Q4_0 (test/gguf/writer.ts): token ids of ordinary and
 * special-token text (llama.cpp with parse_special) and 16 greedy tokens must be equal.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { JsKernels, type WeightFormat } from "@actorlm/tensor";
import { loadModel } from "../../packages/llm/src/models/registry.js";
import { Tokenizer } from "../../packages/llm/src/tokenizer.js";
import { MODEL } from "../generation/helpers.js";
import { argmax, session } from "../llm-model/helpers.js";
import { convertLlama } from "./writer.js";

const PACKAGE = process.env.ACTORLM_NODE_LLAMA_CPP;
const TEXTS = [
  "In the beginning God created the heaven and the earth.", "And the LORD spake unto Moses, saying,",
  "  spaces\tand\nlines  ", "<|end_of_text|> literal", "ünïcödé 😀 123456",
];

/** What node-llama-cpp exports that this test uses. */
interface NodeLlamaCpp {
  getLlama(options: { gpu: false; build: "never"; logLevel: unknown }): Promise<{
    loadModel(options: { modelPath: string }): Promise<{
      tokenize(text: string, specialTokens: boolean): readonly number[];
      createContext(options: { contextSize: number }): Promise<{ getSequence(): { evaluate(tokens: number[], options: { temperature: 0 }): AsyncIterable<number> } }>;
    }>;
  }>;
  LlamaLogLevel: { error: unknown };
}

const dir = mkdtempSync(join(tmpdir(), "actorlm-llama-cpp-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(PACKAGE === undefined)("against llama.cpp (node-llama-cpp)", () => {
  it.each([["F16", "float16"], ["Q4_0", "q4"]] as const)("kjv-llama %s: the same token ids and greedy tokens", async (type, format: WeightFormat) => {
    const path = join(dir, `kjv-${type}.gguf`);
    await convertLlama(MODEL, path, { matrices: type });
    const lib = (await import(pathToFileURL(join(PACKAGE!, "dist/index.js")).href)) as NodeLlamaCpp;
    const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error });
    const theirs = await llama.loadModel({ modelPath: path });
    const ours = await Tokenizer.fromDir(path);
    for (const text of TEXTS) expect(ours.encode(text, { addSpecialTokens: false }), text).toEqual([...theirs.tokenize(text, true)]);

    const prompt = ours.encode(TEXTS[0]);
    const seq = (await theirs.createContext({ contextSize: 256 })).getSequence();
    const want: number[] = [];
    for await (const token of seq.evaluate([...prompt], { temperature: 0 })) if (want.push(token) >= 16) break;
    const { model } = await loadModel(path, { kernels: new JsKernels(), format, kvCacheTokens: 256 });
    const s = session(model, 64);
    let logits = s.forward(prompt);
    const got: number[] = [];
    for (let i = 0; i < 16; i++) {
      got.push(argmax(logits));
      logits = s.forward([got[i]]);
    }
    expect(got).toEqual(want);
  }, 300_000);   // llama.cpp's threads spin: on a loaded 2-core machine it takes tens of seconds
});
