/**
 * Finding the WebGPU adapter: loads Dawn (the `webgpu` package) and asks for the high-performance adapter. The GPU
 * thread does it before opening its device, and the probe (probe.ts) does it in a child process first, so that what
 * Dawn prints while it looks (a missing Vulkan loader, say) stays out of the user's terminal.
 */
/// <reference types="@webgpu/types" />
import type { AdapterInfo } from "./device.js";
import type { AdapterChoice, GpuFailure } from "./protocol.js";

/** The `webgpu` package's exports. */
export interface WebGpuPackage {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Why starting failed, to send back. */
export class StartFailure extends Error {
  constructor(readonly reason: GpuFailure, message: string, readonly adapter?: AdapterInfo) {
    super(message);
  }
}

/** Loads Dawn and picks the high-performance adapter; StartFailure when there is none that `choice` accepts. */
export async function findAdapter(choice: AdapterChoice): Promise<{ webgpu: WebGpuPackage; gpu: GPU; adapter: GPUAdapter; info: AdapterInfo }> {
  let webgpu: WebGpuPackage;
  try {
    webgpu = (await import("webgpu")) as unknown as WebGpuPackage;
  } catch (error) {
    throw new StartFailure("no-webgpu", `the webgpu package (Dawn) did not load: ${error instanceof Error ? error.message : String(error)}`);
  }
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) throw new StartFailure("no-adapter", "no WebGPU adapter (no GPU with a Vulkan driver was found)");
  const info = describe(adapter);
  if (info.fallback && choice === "hardware") {
    throw new StartFailure("fallback-adapter", `the only WebGPU adapter is a software one (${info.description || info.device}), not a GPU`, info);
  }
  return { webgpu, gpu, adapter, info };
}

/** The adapter as it describes itself. */
function describe(adapter: GPUAdapter): AdapterInfo {
  const i = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: i.vendor ?? "", architecture: i.architecture ?? "", device: i.device ?? "", description: i.description ?? "",
    fallback: i.isFallbackAdapter === true || legacy === true,
  };
}
