#!/usr/bin/env bash
# Prepares a GPU run on a machine that will receive only the working tree (see ../shared/GPU.md): from the root of
# a clone (not a git worktree: the bundle tool writes .git/info/exclude), after `npm ci && npm run build`. Writes
# .gpu-bundle/ (git-ignored) with the shared bundle tool — node, the Vulkan loader, node_modules, the builds — plus
# the esbuild binary the bundle leaves out, which tsx needs to run bench/gpu-checks.ts and bench/gpu.ts there.
#   bash bench/gpu-prepare.sh [path/to/gpu-bundle.sh]        (default ../shared/tools/gpu-bundle.sh)
# Then, on the GPU machine, from the project root: bash bench/gpu-run.sh [OUT]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bundle_tool=${1:-../shared/tools/gpu-bundle.sh}
[ -f packages/gpu/dist/gpu-thread.js ] || { echo "build first: npm ci && npm run build" >&2; exit 1; }
bash "$bundle_tool"
tar -cf - node_modules/tsx/node_modules/esbuild node_modules/tsx/node_modules/@esbuild/linux-x64 2>/dev/null \
  | xz -T0 -6 > .gpu-bundle/tsx-esbuild.tar.xz
du -sh .gpu-bundle/tsx-esbuild.tar.xz
total=$(du -sm .gpu-bundle | cut -f1)
echo "bundle with esbuild: ${total} MiB (carry .gpu-bundle; the travelling tree must stay under 64 MiB)"
