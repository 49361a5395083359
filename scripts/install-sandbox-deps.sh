#!/usr/bin/env bash
# System packages the strategy sandbox needs (docs/sandbox.md). Idempotent: apt-get runs only
# when something is missing. The seccomp filter and Landlock are applied by our own ctypes code,
# so only bubblewrap (namespaces) and libseccomp2's runtime library (already in Debian's base) are needed.
set -euo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        SUDO=sudo
    else
        SUDO=
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Unprivileged user namespaces must be on for bubblewrap (Ubuntu 24.04 may need an AppArmor profile).
if ! bwrap --unshare-all --unshare-user --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
        --symlink usr/bin /bin -- /bin/true 2>/dev/null; then
    echo "install-sandbox-deps: bwrap is installed but cannot create namespaces on this kernel;" >&2
    echo "  enable unprivileged user namespaces, or run with SANDBOX_ALLOW_WEAK=1 (development only)" >&2
    exit 1
fi
echo "sandbox deps: $(bwrap --version)"
