// Load progress on stderr: one bar per stage (bytes read, then tensors converted). Silent when not a TTY.
import cliProgress from "cli-progress";
import type { LoadProgress } from "@actorlm/runtime";

/** Anything that emits load `progress` events (a model host or an inference). */
export interface ProgressSource {
  on(event: "progress", listener: (p: LoadProgress) => void): unknown;
  off(event: "progress", listener: (p: LoadProgress) => void): unknown;
}

/** Show `source`'s `progress` events as a progress bar (after `label`) until `stop()` is called. */
export function showLoadProgress(source: ProgressSource, label = "loading"): { stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  let stage = "";
  const onProgress = (p: LoadProgress): void => {
    if (p.stage !== stage) {
      bar?.stop();
      stage = p.stage;
      bar = new cliProgress.SingleBar(
        { format: `${label}: ${p.stage.padEnd(8)} [{bar}] {percentage}% {value}/{total} ${p.unit ?? ""}`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(p.total, p.done);
    } else {
      bar?.update(p.done);
    }
  };
  source.on("progress", onProgress);
  return {
    stop() {
      source.off("progress", onProgress);
      bar?.stop();
    },
  };
}
