#!/usr/bin/env bash
# Run by `npm test` before the suite: the manifests test renders deploy/kubernetes with `kubectl kustomize`. Installs
# Debian's kubectl (package kubernetes-client) when none is on PATH and this is root on a Debian-like machine (CI's
# kind: Debian 12, root); otherwise says how. ACTORLM_KUBECTL names another binary.
set -uo pipefail
[ -n "${ACTORLM_KUBECTL:-}" ] && exit 0
command -v kubectl >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "npm test: installing kubectl (apt-get install kubernetes-client) for the manifests test"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null); then exit 0; fi
  echo "npm test: warning: could not install kubectl; the manifests test will fail" >&2
else
  echo "npm test: warning: no kubectl; install it (sudo apt-get install kubernetes-client) or set ACTORLM_KUBECTL, or the manifests test fails" >&2
fi
exit 0
