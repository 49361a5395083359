#!/usr/bin/env bash
# curl and jq for tests/api/test_walkthrough.py, which runs docs/api.md's agent session as a reader runs it.
# Idempotent: apt-get runs only when one is missing.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "cli deps: $(curl --version | head -1 | cut -d' ' -f1-2), $(jq --version)"
