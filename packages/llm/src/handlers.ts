// The ready-made handlers: applications build an Inference from these and never write the generation loop.
import { Cancel, In, Model, Out, handler, type Inference } from "@actorlm/runtime";
import type { FinishReason, GenerateRequest, TokenOutput } from "./generation/request.js";
import type { LlamaModel, PerplexityResult } from "./llama-model.js";

/**
 * Streams a completion token by token. Each output is `{ token, tokenId, index, special }`; the last one also
 * carries `finishReason`. The request's KV slot is freed when it finishes, fails or is cancelled.
 */
export const streamingHandler = handler(
  [In<GenerateRequest>(), Model<LlamaModel>(), Cancel(), Out<TokenOutput>()],
  async (request, model, cancel, out) => {
    const { id } = await model.call("start", request);
    let finished = false;
    try {
      for (let index = 0; !finished; index++) {
        cancel.throwIfCancelled();
        const step = await model.call("step", id);
        finished = step.finishReason !== undefined;
        const output: TokenOutput = { token: step.text, tokenId: step.tokenId, index, special: step.special };
        if (step.finishReason) output.finishReason = step.finishReason;
        await out.emit(output);
      }
    } finally {
      // A finished sequence freed its slot in the worker; otherwise free it here. If the worker itself is
      // gone there is no slot left to free, and the job already fails with that error.
      if (!finished) await model.call("release", id).catch(() => undefined);
    }
  },
);

/** Teacher-forced perplexity of `{ text }` (with bos), as the job's single output. */
export const perplexityHandler = handler(
  [In<{ text: string }>(), Model<LlamaModel>()],
  (request, model): Promise<PerplexityResult> => model.call("perplexity", request.text),
);

/** A finished completion: its text, every generated token id, and why it ended. */
export interface Completion {
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
}

/** Joins streamed outputs into a {@link Completion}. */
export function collectCompletion(outputs: readonly TokenOutput[]): Completion {
  const last = outputs.at(-1);
  return {
    text: outputs.map((o) => o.token).join(""),
    tokenIds: outputs.map((o) => o.tokenId),
    finishReason: last?.finishReason ?? "length",
  };
}

/** Runs `request` to completion through an inference built from {@link streamingHandler}. */
export async function generate<S>(
  inference: Inference<GenerateRequest, TokenOutput, S>,
  request: GenerateRequest,
  signal?: AbortSignal,
): Promise<Completion> {
  return collectCompletion(await inference.infer(request).run(signal));
}
