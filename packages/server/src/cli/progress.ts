// Model load progress on stderr: one bar per load, redrawn in place, showing every stage the model reports (bytes
// read, tensors converted), then "done in 1.2 s" once the model is ready. Nothing at all when stderr is not a terminal.
import cliProgress from "cli-progress";
import type { LoadProgress, StateChange } from "@actorlm/runtime";

/** Anything that emits load `progress` and `state` events (a model host, a served model or an inference). */
export interface ProgressSource {
  on(event: "progress", listener: (p: LoadProgress) => void): unknown;
  on(event: "state", listener: (change: StateChange) => void): unknown;
  off(event: "progress", listener: (p: LoadProgress) => void): unknown;
  off(event: "state", listener: (change: StateChange) => void): unknown;
}

/** The bar's resolution: its value runs from 0 to this. */
const STEPS = 1000;

/**
 * Shows `source`'s load as one progress bar on `stream` (stderr by default; after `label`) until `stop()` is called;
 * does nothing unless `stream` is a terminal.
 */
export function showLoadProgress(source: ProgressSource, label = "loading", stream: NodeJS.WriteStream = process.stderr): { stop(): void } {
  if (stream.isTTY !== true) return { stop() {} };
  const bar = terminalBar(`${label} [{bar}] {percentage}% | {status}`, stream);
  const stages = new Map<string, LoadProgress>();
  const t0 = Date.now();
  let value = 0;
  const show = (status: string): void => {
    if (bar.isActive) bar.update(value, { status });
    else bar.start(STEPS, value, { status });
  };
  const onProgress = (p: LoadProgress): void => {
    stages.set(p.stage, p);
    value = Math.max(value, Math.floor(fraction(stages) * STEPS));   // a stage reported late never moves it back
    show(describe(stages));
  };
  const onState = (change: StateChange): void => {
    if (change.state !== "ready") return;
    value = STEPS;
    show(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  source.on("progress", onProgress);
  source.on("state", onState);
  return {
    stop() {
      source.off("progress", onProgress);
      source.off("state", onState);
      bar.stop();
    },
  };
}

/**
 * A bar on the terminal `stream`, drawn from `template` (cli-progress placeholders) and redrawn in place. Each line is
 * cut to the terminal's width, as a line that wrapped could not be redrawn in place; the terminal's own wrapping and
 * cursor are left alone, so nothing needs restoring when the process is killed while the bar is shown.
 */
export function terminalBar(template: string, stream: NodeJS.WriteStream): cliProgress.SingleBar {
  const format: cliProgress.GenericFormatter = (options, params, payload) =>
    cliProgress.Format.Formatter({ ...options, format: template }, params, payload).slice(0, Math.max(1, (stream.columns || 80) - 1));
  return new cliProgress.SingleBar({ format, stream, barsize: 20, linewrap: true }, cliProgress.Presets.shades_classic);
}

/** The mean completed fraction of the stages with a known total. */
function fraction(stages: ReadonlyMap<string, LoadProgress>): number {
  const known = [...stages.values()].filter((p) => p.total > 0);
  return known.length === 0 ? 0 : known.reduce((n, p) => n + Math.min(1, p.done / p.total), 0) / known.length;
}

/** `read 12.3/27.1 MB | convert 50/112 tensors`. */
function describe(stages: ReadonlyMap<string, LoadProgress>): string {
  return [...stages.values()].map((p) => `${p.stage} ${p.unit === "bytes" ? bytes(p.done, p.total) : `${p.done}/${p.total}${p.unit ? ` ${p.unit}` : ""}`}`).join(" | ");
}

/** `12.3/27.1 MB`, or `1.23/2.47 GB` from a gigabyte on. */
function bytes(done: number, total: number): string {
  return total >= 2 ** 30 ? `${(done / 2 ** 30).toFixed(2)}/${(total / 2 ** 30).toFixed(2)} GB` : `${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MB`;
}
