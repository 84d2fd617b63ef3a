#!/usr/bin/env bash
# Run by the failover test (test/deploy/failover.test.ts) before it starts: HAProxy is a Debian package. Installs it
# with apt when it is missing and this is root on a Debian-like machine (CI's kind: Debian 12, root); otherwise says
# how and fails. ACTORLM_HAPROXY names another binary (the test then skips this script).
set -uo pipefail
command -v haproxy >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "failover test: installing haproxy (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null) && exit 0
fi
echo "failover test: no haproxy; install it (sudo apt-get install haproxy) or set ACTORLM_HAPROXY" >&2
exit 1
