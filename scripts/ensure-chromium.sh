#!/usr/bin/env bash
# The admin page test drives Debian's headless Chromium (through playwright-core).
# npm cannot install a browser here, so `npm test` (pretest) and .ci/run install
# Debian's package when it is missing and this user may; otherwise they say how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "audit-chain: installing Debian's chromium for the admin page test (apt-get install chromium)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  exit 0
fi
echo "audit-chain: /usr/bin/chromium is missing, so the admin page test will fail: install Debian's chromium (sudo apt-get install chromium)" >&2
