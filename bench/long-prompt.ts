// One request must not hurt the others: while one greedy stream runs, a far too long prompt (10 MB by default) is
// submitted beside it. Prints how long the refusal took and the longest pause between two tokens of the running
// stream (its normal pace is a few milliseconds per token). Asserts nothing.
//   node --import tsx bench/long-prompt.ts [--mb N]
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { InferenceBuilder, InferenceError } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, streamingHandler } from "@actorlm/llm";

const { values: flags } = parseArgs({ options: { mb: { type: "string", default: "10" } } });
const megabytes = Number(flags.mb);
if (!(megabytes > 0)) throw new RangeError(`--mb must be a positive number, got ${flags.mb}`);

await using inference = await new InferenceBuilder().init(LlmEngine, { model: EMBEDDED_MODEL_DIR }).build(streamingHandler);
const verse = "And God said, Let there be light: and there was light. ";
const huge = verse.repeat(Math.ceil((megabytes * 2 ** 20) / verse.length));

/** Longest pause between consecutive tokens of a 200-token greedy stream, optionally with `during` started after token 20. */
async function longestGap(during?: () => Promise<unknown>): Promise<{ gapMs: number; side?: Promise<unknown> }> {
  const job = inference.infer({ prompt: "In the beginning", maxTokens: 200, temperature: 0 }).spawn();
  let last = performance.now();
  let gapMs = 0;
  let side: Promise<unknown> | undefined;
  for await (const t of job.stream) {
    const now = performance.now();
    if (t.index > 20) gapMs = Math.max(gapMs, now - last);
    last = now;
    if (t.index === 20 && during) side = during();
  }
  await job.join();
  return { gapMs, side };
}

await longestGap(); // warm-up
const alone = await longestGap();
let refusedMs = 0;
let code = "";
const withHuge = await longestGap(() => {
  const t0 = performance.now();
  return inference.infer({ prompt: huge, maxTokens: 10 }).run().then(
    () => (code = "accepted"),
    (e: unknown) => {
      refusedMs = performance.now() - t0;
      code = InferenceError.is(e) ? e.code : String(e);
    },
  );
});
await withHuge.side;
console.log(`prompt of ${(Buffer.byteLength(huge) / 2 ** 20).toFixed(1)} MB: ${code} after ${refusedMs.toFixed(0)} ms`);
console.log(`longest pause between tokens of the running stream: alone ${alone.gapMs.toFixed(1)} ms, beside it ${withHuge.gapMs.toFixed(1)} ms`);
