// Which JavaScript runtime runs this process: what `info()` and the bench report beside the kernels they measured.

/** A JavaScript runtime and its version. */
export interface JsRuntime {
  readonly name: "node" | "bun" | "deno";
  readonly version: string;
}

/** The runtime running this code: Bun and Deno name themselves in process.versions beside the Node version they emulate. */
export function jsRuntime(): JsRuntime {
  const versions = process.versions as NodeJS.ProcessVersions & { readonly bun?: string; readonly deno?: string };
  if (versions.bun !== undefined) return { name: "bun", version: versions.bun };
  if (versions.deno !== undefined) return { name: "deno", version: versions.deno };
  return { name: "node", version: versions.node };
}
