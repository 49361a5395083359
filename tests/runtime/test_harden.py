"""The seccomp table and program: the numbers checked against the kernel headers where they are installed, the
program's answer for every syscall number against the rules written out plainly."""

from __future__ import annotations

import errno
import re
import struct
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


# --- the program's decisions, syscall by syscall: a classic-BPF interpreter of the instructions it uses ----------

def _run(program: bytes, *, nr: int, args: tuple[int, ...] = (0,) * 6,
         arch: int = harden._AUDIT_ARCH_X86_64) -> int:
    data = struct.pack("<iI", nr, arch) + struct.pack("<Q", 0) + struct.pack("<6Q", *args)
    insns = [struct.unpack_from("HBBI", program, offset) for offset in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == harden._RET_K:
            return int(k)
        if code == harden._LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
            continue
        taken = {harden._JEQ_K: acc == k, harden._JGE_K: acc >= k, harden._JSET_K: bool(acc & k)}[code]
        pc += 1 + (jt if taken else jf)


def _expected(nr: int, args: tuple[int, ...], *, own_pid: int, session: bool) -> int:
    """What the filter must answer, written out plainly (docs/sandbox.md, seccomp)."""
    eperm, enosys, allow = harden._RET_ERRNO | errno.EPERM, harden._RET_ERRNO | errno.ENOSYS, harden._RET_ALLOW
    first, second = args[0] & 0xFFFFFFFF, args[1] & 0xFFFFFFFF
    if nr & 0xFFFFFFFF >= harden._X32_SYSCALL_BIT or nr in harden._DENY_X86_64.values():
        return eperm
    if nr == harden._X86_64_CLONE3:
        return enosys
    if nr == harden._X86_64_CLONE:
        if session:
            return eperm if first & harden._CLONE_NOT_FOR_SESSIONS else allow
        return allow if first & harden._CLONE_THREAD else eperm
    if nr == harden._X86_64_SOCKETPAIR:
        return allow if first == harden._AF_UNIX else eperm
    if nr == harden._X86_64_IOCTL:
        return eperm if second in (harden._TIOCSTI, harden._TIOCLINUX) else allow
    if not session and nr in harden._X86_64_SIGNAL_TO_PID.values():
        return allow if first in (own_pid, 0) else eperm
    return allow


ARGS = [(0,) * 6, (harden._CLONE_THREAD | 0x100, 1, 0, 0, 0, 0), (0x10000000, 0, 0, 0, 0, 0),
        (0x00008000, 0, 0, 0, 0, 0), (harden._AF_UNIX, harden._TIOCSTI, 0, 0, 0, 0), (2, harden._TIOCLINUX, 0, 0, 0, 0),
        (4321, 0x5401, 0, 0, 0, 0), (4322, 9, 0, 0, 0, 0), ((1 << 32) | 4321, 0, 0, 0, 0, 0)]


@pytest.mark.parametrize("session", [False, True])
def test_every_syscall_number_gets_what_the_rules_say(session: bool) -> None:
    program = harden.seccomp_program(4321, session=session)
    numbers = [*range(0, 1100), harden._X32_SYSCALL_BIT, harden._X32_SYSCALL_BIT + 59, 0x7FFFFFFF, -1]
    for nr in numbers:
        for args in ARGS:
            assert _run(program, nr=nr, args=args) == _expected(nr & 0xFFFFFFFF, args, own_pid=4321,
                                                                   session=session), (nr, args)
    assert _run(program, nr=0, arch=0x40000003) == harden._RET_KILL_PROCESS  # i386


def test_a_run_s_filter_from_the_template_is_the_program_for_its_pid() -> None:
    template = harden.SeccompTemplate()
    assert template.for_pid(77) == harden.seccomp_program(77)
    assert _run(template.for_pid(77), nr=62, args=(77, 9, 0, 0, 0, 0)) == harden._RET_ALLOW  # kill(itself)
    assert _run(template.for_pid(77), nr=62, args=(78, 9, 0, 0, 0, 0)) == harden._RET_ERRNO | errno.EPERM
