#!/usr/bin/env bash
# The GPU run, on a machine with an NVIDIA GPU, from the project root of a tree prepared by bench/gpu-prepare.sh:
# installs the bundle, then runs the gpu backend's checks (ops against the reference on WebGPU, kjv-llama float32
# conformance, float16 vs float32 greedy agreement) and the benchmark (bench/gpu.ts), writing their reports and
# logs to OUT (default bench/results/).
#   bash bench/gpu-run.sh [OUT]
set -uo pipefail
out=${1:-bench/results}
mkdir -p "$out"
if [ -f .gpu-bundle/setup.sh ]; then
  bash .gpu-bundle/setup.sh > "$out/gpu-setup.log" 2>&1 || { cat "$out/gpu-setup.log"; exit 1; }
  tar xJf .gpu-bundle/tsx-esbuild.tar.xz
fi
# setup.sh exports this in its own shell only
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
{ nvidia-smi; node --version; } > "$out/gpu-machine.txt" 2>&1
status=0
timeout 300 node --import tsx bench/gpu-checks.ts --out "$out" > "$out/gpu-checks.log" 2>&1 || status=1
tail -3 "$out/gpu-checks.log"
timeout 420 node --import tsx bench/gpu.ts --out "$out" --runs 3 > "$out/gpu-bench.log" 2>&1 || status=1
tail -14 "$out/gpu-bench.log"
exit $status
