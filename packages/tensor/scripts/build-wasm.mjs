// Compiles the AssemblyScript kernels (packages/tensor/assembly) twice: with relaxed SIMD (fused multiply-add)
// and with plain SIMD. The backend picks one at run time. Output: packages/tensor/dist/kernels-{relaxed,plain}.wasm.
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const root = fileURLToPath(new URL("..", import.meta.url));
mkdirSync(`${root}/dist`, { recursive: true });
for (const [name, features] of [["plain", "simd,threads"], ["relaxed", "simd,threads,relaxed-simd"]]) {
  const { error, stderr } = await asc.main([
    `${root}/assembly/index.ts`, "-o", `${root}/dist/kernels-${name}.wasm`,
    "-O3", "--runtime", "stub", "--noAssert", "--enable", features,
    "--importMemory", "--sharedMemory", "--initialMemory", "2", "--maximumMemory", "65536", "--noExportMemory",
  ]);
  if (error) {
    process.stderr.write(stderr.toString());
    throw error;
  }
}
