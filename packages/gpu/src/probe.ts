/**
 * The probe: run as a child process (`gpu-probe.js <hardware|any>`) before the GPU thread starts, it looks for the
 * adapter the way the GPU thread would and prints the result as one JSON line (protocol.ts's ProbeResult). Native
 * libraries write their own diagnostics (Dawn's "Couldn't load Vulkan" on a machine with no GPU) straight to the
 * process's stderr, where no JavaScript can catch them; in a child, its parent decides whether anyone sees them.
 */
import { StartFailure, findAdapter } from "./adapter.js";
import type { AdapterChoice, ProbeResult } from "./protocol.js";

const choice: AdapterChoice = process.argv[2] === "any" ? "any" : "hardware";

findAdapter(choice).then(
  ({ info }): ProbeResult => ({ type: "found", adapter: info }),
  (error: unknown): ProbeResult => error instanceof StartFailure
    ? { type: "failed", reason: error.reason, message: error.message, adapter: error.adapter }
    : { type: "failed", reason: "no-webgpu", message: error instanceof Error ? error.message : String(error) },
).then((result) => {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)); // Dawn's threads would keep the process alive
});
