/**
 * The relaxed-SIMD build (fused multiply-add) is chosen only where the runtime validates it; Node 20 does with
 * --experimental-wasm-relaxed-simd. A child process with that flag runs the relaxed build's matrix products
 * against the plain-JS reference; without it, asking for relaxed SIMD is refused by name.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { WasmKernels } from "@actorlm/tensor";
import { describe, expect, it } from "vitest";

const SCRIPT = join(import.meta.dirname, "../fixtures/tensor/relaxed-parity.mjs");

describe("relaxed SIMD", () => {
  it("the relaxed build matches the reference (run where the runtime validates it)", () => {
    const out = execFileSync(process.execPath, ["--experimental-wasm-relaxed-simd", SCRIPT], { encoding: "utf8", cwd: join(import.meta.dirname, "../..") });
    const { simd, worst } = JSON.parse(out) as { simd: string; worst: Record<string, number> };
    expect(simd).toBe("relaxed");
    expect(worst.float32).toBeLessThan(2e-5);
    expect(worst.float16).toBeLessThan(2e-5);
    expect(worst.bfloat16).toBeLessThan(2e-5);
    expect(worst.int8).toBeLessThan(2e-3);
    expect(worst.q4).toBeLessThan(2e-3);
  });

  it("this process picks a build its runtime validates, and refuses relaxed SIMD by name when it cannot", async () => {
    const kernels = await WasmKernels.create({ threads: 1 });
    const relaxed = kernels.simd === "relaxed";
    await kernels.dispose();
    if (!relaxed) await expect(WasmKernels.create({ simd: "relaxed" })).rejects.toThrow(/relaxed SIMD/);
    const plain = await WasmKernels.create({ simd: "plain" });
    expect(plain.simd).toBe("plain");
    await plain.dispose();
  });
});
