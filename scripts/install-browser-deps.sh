#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (tests/browser/, Playwright drives /usr/bin/chromium).
# Idempotent: apt-get runs only when it is missing. Playwright never downloads a browser of its own here.
set -euo pipefail

if [[ ! -x /usr/bin/chromium ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
echo "browser deps: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium installed')"
