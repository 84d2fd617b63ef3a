#!/usr/bin/env node
// The consumer test: the packages as users get them. Packs every workspace (after `npm run build`), installs the
// tarballs into a fresh project outside the repository — CPU only: every package but @actorlm/gpu — and checks there:
// the install (its node_modules size, no WebGPU binary, no install script, `--engine-strict`), a strict TypeScript
// type-check of a file using the public API, and on each runtime asked for: the README's library sample as ESM and as
// CommonJS, `actorlm generate` on the embedded model (through npx on Node.js), `actorlm serve` plus one request, and
// what device gpu / auto do without @actorlm/gpu. With --gpu, a second project adds @actorlm/gpu and runs its kernels
// (in gpu.js's cpu mode). Exits 1 when any check fails.
//   node test/consumer/run.mjs [--runtimes node,node22,node24,bun,deno] [--gpu] [--keep]
// "node" is the Node.js running this script; the others come from test/runtimes/fetch.mjs (npm packages).
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, lstatSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { runtime } from "../runtimes/fetch.mjs";

const ROOT = join(import.meta.dirname, "../..");
const { values: flags } = parseArgs({
  options: { runtimes: { type: "string", default: "node" }, gpu: { type: "boolean", default: false }, keep: { type: "boolean", default: false } },
});
const PROMPT = "In the beginning";
const TIMEOUT_MS = 120_000;

const failures = [];
const timings = [];
/** Runs one named check, timing it; a thrown error is a failure, reported and counted. */
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const note = await fn();
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    timings.push([name, s]);
    console.log(`ok    ${name} (${s} s)${note ? `: ${note}` : ""}`);
  } catch (error) {
    failures.push(name);
    console.log(`FAIL  ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Runs a command to completion: { code, stdout, stderr } (never rejects). */
function run(cmd, args, options = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: TIMEOUT_MS, maxBuffer: 64 << 20, ...options }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : (typeof error.code === "number" ? error.code : 1), stdout, stderr, error }));
  });
}

/** Like run, but throws (with the output's tail) unless the command exits 0. */
async function ok(cmd, args, options) {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${[cmd, ...args].join(" ")} exited ${r.code}\n${(r.stdout + r.stderr).slice(-3000)}`);
  return r;
}

/** Bytes under `dir` (file sizes, links not followed). */
function bytesUnder(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(p);
    else total += lstatSync(p).size;
  }
  return total;
}

/** Every package.json under node_modules (scoped and nested ones too). */
function packagesUnder(nodeModules) {
  const found = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      if (name.startsWith("@")) { walk(join(dir, name)); continue; }
      const pkg = join(dir, name, "package.json");
      if (existsSync(pkg)) found.push({ dir: join(dir, name), manifest: JSON.parse(readFileSync(pkg, "utf8")) });
      walk(join(dir, name, "node_modules"));
    }
  };
  walk(nodeModules);
  return found;
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The README's "library in one screen" sample. */
function readmeSample() {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The library in one screen"));
  const m = /^```ts\n([\s\S]*?)^```$/m.exec(section);
  if (m === null) throw new Error("README.md: no sample under 'The library in one screen'");
  return m[1];
}

/** The same sample as CommonJS: imports become requires, the body an async function. */
function asCommonJs(esm) {
  const lines = esm.split("\n");
  const requires = lines.filter((l) => l.startsWith("import ")).map((l) => {
    const m = /^import \{ (.+) \} from "(.+)";$/.exec(l);
    if (m === null) throw new Error(`cannot turn ${l} into a require`);
    return `const { ${m[1]} } = require("${m[2]}");`;
  });
  const body = lines.filter((l) => !l.startsWith("import "));
  return `"use strict";\n${requires.join("\n")}\n(async () => {\n${body.join("\n")}\n})().catch((error) => { console.error(error); process.exitCode = 1; });\n`;
}

/** How `runtimeName` runs a script file. */
function command(runtimeName, bin, script, args = []) {
  if (runtimeName === "deno") return [bin, ["run", "--allow-all", script, ...args]];
  return [bin, [script, ...args]];
}

/** The environment for a runtime: its directory first on PATH (so npx and #!/usr/bin/env node use it). */
function envFor(bin) {
  return { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}`, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", NO_COLOR: "1" };
}

/** Starts `actorlm serve --port 0`, waits until its model is ready, sends one completion; the server's answer. */
async function serveOnce(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const deadline = Date.now() + TIMEOUT_MS;
    let url;
    while (url === undefined) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start:\n${out.slice(-2000)}`);
      url = /serving at (http:\/\/\S+)/.exec(out)?.[1];
      await new Promise((r) => setTimeout(r, 100));
    }
    for (;;) {
      const health = await fetch(`${url}/health`).then((r) => r.status, () => 0);
      if (health === 200) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the model did not get ready:\n${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const response = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "kjv-llama", prompt: PROMPT, max_tokens: 8, temperature: 0 }),
    });
    const body = await response.json();
    if (response.status !== 200) throw new Error(`POST /v1/completions: ${response.status} ${JSON.stringify(body)}`);
    return body.choices[0].text;
  } finally {
    child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 15_000))]);
    if (code === "timeout") child.kill("SIGKILL");
  }
}

const t0 = performance.now();
for (const pkg of ["runtime", "tensor", "gpu", "llm", "server"]) {
  if (!existsSync(join(ROOT, "packages", pkg, "dist/index.js"))) throw new Error(`packages/${pkg} is not built: run npm run build first`);
}
const work = mkdtempSync(join(tmpdir(), "actorlm-consumer-"));
const app = join(work, "app");
const tarballs = join(work, "tarballs");
mkdirSync(app);
mkdirSync(tarballs);
console.log(`consumer project: ${app}`);

let packed = [];
await check("npm pack every workspace", async () => {
  const { stdout } = await ok("npm", ["pack", "--workspaces", "--json", "--pack-destination", tarballs], { cwd: ROOT });
  packed = JSON.parse(stdout);
  for (const p of packed) {
    const files = p.files.map((f) => f.path);
    for (const need of ["LICENSE", "README.md", "package.json"]) if (!files.includes(need)) throw new Error(`${p.name}: no ${need} in the tarball`);
    if (files.some((f) => f.endsWith(".map"))) throw new Error(`${p.name}: source maps in the tarball`);
  }
  return packed.map((p) => `${p.name} ${mb(p.size)}`).join(", ");
});
const tarballOf = (name) => join(tarballs, packed.find((p) => p.name === name).filename);
const cpuTarballs = packed.filter((p) => p.name !== "@actorlm/gpu").map((p) => join(tarballs, p.filename));

let installBytes = 0;
await check("install the tarballs (CPU only, --engine-strict)", async () => {
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "actorlm-consumer", private: true, type: "module" }, null, 2));
  await ok("npm", ["install", "--no-audit", "--no-fund", "--engine-strict", ...cpuTarballs], { cwd: app });
  const packages = packagesUnder(join(app, "node_modules"));
  const gpuPackages = packages.filter((p) => ["webgpu", "gpu.js", "gl", "@actorlm/gpu"].includes(p.manifest.name));
  if (gpuPackages.length > 0) throw new Error(`a CPU-only install holds ${gpuPackages.map((p) => p.manifest.name).join(", ")}`);
  const scripted = packages.filter((p) => ["preinstall", "install", "postinstall"].some((s) => p.manifest.scripts?.[s] !== undefined));
  if (scripted.length > 0) throw new Error(`install scripts in ${scripted.map((p) => p.manifest.name).join(", ")}`);
  installBytes = bytesUnder(join(app, "node_modules"));
  const biggest = packages.map((p) => [p.manifest.name, bytesUnder(p.dir)]).sort((a, b) => b[1] - a[1]).slice(0, 5);
  return `node_modules ${mb(installBytes)} in ${packages.length} packages (largest: ${biggest.map(([n, b]) => `${n} ${mb(b)}`).join(", ")})`;
});
if (installBytes > 40e6) {
  failures.push("install size");
  console.log(`FAIL  install size: ${mb(installBytes)} > 40 MB`);
}

const sample = readmeSample();
writeFileSync(join(app, "sample.mjs"), sample);
writeFileSync(join(app, "sample.cjs"), asCommonJs(sample));
writeFileSync(join(app, "api.ts"), readFileSync(join(import.meta.dirname, "api.ts"), "utf8"));
writeFileSync(join(app, "tsconfig.json"), JSON.stringify({
  compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2023"], noEmit: true, skipLibCheck: false },
  files: ["api.ts"],
}, null, 2));

await check("strict type-check of api.ts against the installed .d.ts (skipLibCheck off)", async () => {
  await ok(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(app, "tsconfig.json")], { cwd: app });
});

let reference; // the greedy continuation the first runtime gives: every other place must give the same
for (const name of flags.runtimes.split(",").filter(Boolean)) {
  const bin = name === "node" ? process.execPath : runtime(name);
  const env = envFor(bin);
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim().split("\n")[0];
  console.log(`-- ${name} (${version})`);
  for (const file of ["sample.mjs", "sample.cjs"]) {
    await check(`${name}: the README's library sample, ${file.endsWith(".mjs") ? "ESM" : "CommonJS"}`, async () => {
      const [cmd, args] = command(name, bin, file);
      const { stdout } = await ok(cmd, args, { cwd: app, env });
      if (!/tokens \((stop|length)\); then \d+ outputs/.test(stdout)) throw new Error(`unexpected output: ${stdout.slice(-500)}`);
    });
  }
  const cli = join(app, "node_modules/@actorlm/server/bin/actorlm.js");
  const generateArgs = ["generate", "--prompt", PROMPT, "--max-tokens", "8", "--temperature", "0", "--json"];
  await check(`${name}: ${name.startsWith("node") ? "npx actorlm" : "actorlm"} generate on the embedded model`, async () => {
    const [cmd, args] = name.startsWith("node") ? ["npx", ["--no-install", "actorlm", ...generateArgs]] : command(name, bin, cli, generateArgs);
    const { stdout } = await ok(cmd, args, { cwd: app, env });
    const text = JSON.parse(stdout.trim().split("\n").pop()).text;
    reference ??= text;
    if (text !== reference) throw new Error(`greedy text ${JSON.stringify(text)}, elsewhere ${JSON.stringify(reference)}`);
    return JSON.stringify(text);
  });
  await check(`${name}: actorlm serve, one completion over HTTP`, async () => {
    const [cmd, args] = command(name, bin, cli, ["serve", "--port", "0", "--threads", "1"]);
    const text = await serveOnce(cmd, args, { cwd: app, env });
    if (text !== reference) throw new Error(`served ${JSON.stringify(text)}, generate gave ${JSON.stringify(reference)}`);
  });
  if (name === "node") {
    await check(`${name}: --device gpu without @actorlm/gpu is MODEL_LOAD naming the package`, async () => {
      const [cmd, args] = command(name, bin, cli, [...generateArgs, "--device", "gpu"]);
      const r = await run(cmd, args, { cwd: app, env });
      if (r.code === 0 || !r.stderr.includes("npm install @actorlm/gpu")) throw new Error(`exit ${r.code}: ${r.stderr.slice(-500)}`);
      return r.stderr.trim().split("\n").pop();
    });
    await check(`${name}: --device auto without @actorlm/gpu runs on the cpu`, async () => {
      const [cmd, args] = command(name, bin, cli, [...generateArgs, "--device", "auto"]);
      const { stdout } = await ok(cmd, args, { cwd: app, env });
      if (JSON.parse(stdout.trim().split("\n").pop()).text !== reference) throw new Error("another text than on device cpu");
    });
  }
}

if (flags.gpu) {
  const gpuApp = join(work, "gpu-app");
  mkdirSync(gpuApp);
  await check("install with @actorlm/gpu", async () => {
    writeFileSync(join(gpuApp, "package.json"), JSON.stringify({ name: "actorlm-gpu-consumer", private: true, type: "module" }, null, 2));
    await ok("npm", ["install", "--no-audit", "--no-fund", "--engine-strict", ...cpuTarballs, tarballOf("@actorlm/gpu")], { cwd: gpuApp });
    const names = packagesUnder(join(gpuApp, "node_modules")).map((p) => p.manifest.name);
    for (const unwanted of ["gpu.js", "gl", "gpu-mock.js"]) if (names.includes(unwanted)) throw new Error(`the install holds ${unwanted}`);
    return `node_modules ${mb(bytesUnder(join(gpuApp, "node_modules")))}`;
  });
  await check("node: actorlm generate --backend gpu (gpu.js's cpu mode, installed)", async () => {
    const cli = join(gpuApp, "node_modules/@actorlm/server/bin/actorlm.js");
    const { stdout } = await ok(process.execPath, [cli, "generate", "--prompt", PROMPT, "--max-tokens", "8", "--temperature", "0", "--json", "--backend", "gpu"], { cwd: gpuApp });
    const text = JSON.parse(stdout.trim().split("\n").pop()).text;
    if (reference !== undefined && text !== reference) throw new Error(`${JSON.stringify(text)}, the wasm kernels gave ${JSON.stringify(reference)}`);
  });
  await check("node: --device auto with @actorlm/gpu and no GPU: the cpu, one line saying so and nothing from Dawn on stderr", async () => {
    const cli = join(gpuApp, "node_modules/@actorlm/server/bin/actorlm.js");
    const r = await ok(process.execPath, [cli, "generate", "--prompt", PROMPT, "--max-tokens", "8", "--temperature", "0", "--json", "--device", "auto"], { cwd: gpuApp });
    const lines = r.stderr.trim().split("\n");
    if (!/^actorlm: device auto: running on the cpu, /.test(lines[0]) || lines.length !== 1) throw new Error(`stderr: ${r.stderr.slice(-500)}`);
  });
}

if (!flags.keep) rmSync(work, { recursive: true, force: true });
console.log(`consumer node_modules (CPU only): ${mb(installBytes)}`);
console.log(`consumer test: ${timings.length} passed, ${failures.length} failed in ${((performance.now() - t0) / 1000).toFixed(0)} s${failures.length ? ` (failed: ${failures.join("; ")})` : ""}`);
process.exit(failures.length === 0 ? 0 : 1);
