#!/usr/bin/env bash
# System tools the scale-out test needs (tests/faults/test_scaleout.py: worker hosts in network, UTS and
# PID namespaces of their own): `ip` from iproute2 and `unshare` from util-linux. Idempotent: apt-get
# runs only when one is missing. The test itself runs as root (CI does) and fails, never skips, without them.
set -euo pipefail

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "netns deps: $(ip -V), $(unshare --version | head -1)"
