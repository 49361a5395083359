"""The seccomp table and program, checked against the kernel headers where they are installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime import harden

HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


@pytest.mark.skipif(not HEADER.exists(), reason="kernel headers (linux-libc-dev) not installed")
def test_the_x86_64_syscall_numbers_match_the_kernel_headers() -> None:
    numbers = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+) (\d+)", HEADER.read_text())}
    table = {
        **harden._DENY_X86_64,
        **harden._X86_64_SIGNAL_TO_PID,
        "clone": harden._X86_64_CLONE,
        "clone3": harden._X86_64_CLONE3,
        "socketpair": harden._X86_64_SOCKETPAIR,
        "ioctl": harden._X86_64_IOCTL,
        "landlock_create_ruleset": harden._SYS_LANDLOCK_CREATE_RULESET,
        "landlock_add_rule": harden._SYS_LANDLOCK_ADD_RULE,
        "landlock_restrict_self": harden._SYS_LANDLOCK_RESTRICT_SELF,
    }
    assert {name: numbers[name] for name in table} == table


def test_the_program_fits_the_bpf_limits() -> None:
    program = harden.seccomp_program(1234)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
