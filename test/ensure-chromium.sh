#!/usr/bin/env bash
# Run by `npm test` before the suite: the playground test drives Debian's chromium headless (through playwright-core,
# which downloads no browser). Installs it with apt when it is missing and this is root on a Debian-like machine
# (CI's kind: Debian 12, root); otherwise says how. ACTORLM_CHROMIUM names another browser binary.
set -uo pipefail
browser=${ACTORLM_CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "npm test: installing chromium (apt-get) for the playground test"
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); then exit 0; fi
  echo "npm test: warning: could not install chromium; the playground test will fail" >&2
else
  echo "npm test: warning: no $browser; install chromium (sudo apt-get install chromium) or set ACTORLM_CHROMIUM, or the playground test fails" >&2
fi
exit 0
