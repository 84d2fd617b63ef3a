// The web playground's files (packages/server/playground/), read once. This module sits directly in src/ and is
// bundled into files directly in dist/, so the same relative URL finds the folder from the sources and the build.
import { readFileSync } from "node:fs";

/** One static file: its bytes and content type. */
export interface Asset {
  body: Buffer;
  type: string;
}

const DIR = new URL("../playground/", import.meta.url);

/** The playground's files by URL path: `/` (the page), `/playground.js`, `/playground.css`. */
export function playgroundAssets(): ReadonlyMap<string, Asset> {
  const read = (name: string) => readFileSync(new URL(name, DIR));
  return new Map([
    ["/", { body: read("index.html"), type: "text/html; charset=utf-8" }],
    ["/playground.js", { body: read("playground.js"), type: "text/javascript; charset=utf-8" }],
    ["/playground.css", { body: read("playground.css"), type: "text/css; charset=utf-8" }],
  ]);
}
