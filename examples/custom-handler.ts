// A handler of your own: declare what it needs and the runtime injects it — the request, the model,
// the cancel token, the output stream, per-job state and a custom extractor.
import { Cancel, In, InferenceBuilder, Model, Out, State, defineExtractor, handler } from "@actorlm/runtime";
import { EMBEDDED_MODEL_DIR, LlmEngine, startSequence } from "@actorlm/llm";

/** A custom parameter: the job's start time, supplied by an extractor registered on the builder. */
const StartedAt = defineExtractor<number>("startedAt");

/** Continues a prompt greedily, one line of verse per output, until `lines` lines are done. */
const versesHandler = handler(
  [In<{ prompt: string; lines: number }>(), Model<LlmEngine>(), Cancel(), Out<string>(), State<{ label: string }>(), StartedAt],
  async (request, model, cancel, out, state, startedAt) => {
    // Validates the request and tokenizes the prompt off the model worker, then runs the "submit" operation (the
    // request joins the model's batch). The job's signal takes it off the worker's queue if the job is cancelled
    // meanwhile.
    const { id } = await startSequence(model, { prompt: request.prompt, maxTokens: 400, temperature: 0 }, cancel.signal);
    const steps = model.withSignal(cancel.signal); // queued calls of a cancelled job never run
    let line = "";
    let done = 0;
    let finished = false;
    try {
      while (done < request.lines && !finished) {
        cancel.throwIfCancelled();
        const step = await steps.call("step", id); // its next output alone ("next" gives all that are ready)
        finished = step.finishReason !== undefined;
        line += step.text;
        for (let nl = line.indexOf("\n"); nl >= 0 && done < request.lines; nl = line.indexOf("\n")) {
          await out.emit(`${state.label} ${++done}: ${line.slice(0, nl).trim()}`);
          line = line.slice(nl + 1);
        }
      }
    } finally {
      // A finished request already gave its KV blocks back. Otherwise release it here (it leaves the batch), ignoring
      // a failure of the release itself (the worker may be gone), which must not replace the error the job fails with.
      if (!finished) await model.call("release", id).catch(() => undefined);
    }
    return `${state.label}: ${done} lines in ${Math.round(performance.now() - startedAt)} ms`;
  },
);

await using inference = await new InferenceBuilder()
  .init(LlmEngine, { model: EMBEDDED_MODEL_DIR })
  .extractor(StartedAt, () => performance.now())
  .build(versesHandler);

const outputs = await inference.infer({ prompt: "Blessed are the", lines: 3 }).withState({ label: "verse" }).run();
for (const o of outputs) console.log(o);
