"""In-process hardening a sandboxed run applies to itself before any user code runs.

Layers (each is irrevocable for the process and its threads); Landlock and seccomp are applied
by the pre-forked run while it waits for a cycle, rlimits once the cycle's limits arrive:

1. Landlock (kernel LSM, unprivileged): the file system becomes read-only beneath the runtime's
   paths and read-write beneath the run's scratch folder, nothing else; TCP bind/connect denied
   (ABI 4+); signals and abstract unix sockets scoped to the run itself (ABI 6+).
2. seccomp: a BPF deny-list built here (no libseccomp needed) that blocks exec, fork (threads
   stay allowed), socket(), ptrace and cross-process memory access, signals to any other process,
   namespaces and mounts, bpf, perf, io_uring, keyctl, userfaultfd, module loading and other
   kernel surfaces a strategy never needs. Unknown architectures are killed outright.
3. rlimits: CPU seconds, address space, file size, open files, threads, no core dumps. Only
   ever lowered.

Everything here uses ctypes against libc, which the zygote imports before forking.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.limits import SandboxLimits

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.madvise.restype = ctypes.c_int
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2


MADV_COLLAPSE = 25  # Linux 6.1
HUGE_PAGE = 1 << 21


def collapse_heap() -> int:
    """Best effort: this process's private writable anonymous memory, in 2 MiB-aligned stretches, made of 2 MiB pages
    now (`MADV_COLLAPSE`). The zygote does it once, to its preloaded heap, before its first fork. Its own writes split
    the 2 MiB mappings again after that fork, but the pages stay 2 MiB folios, and a fork copies (a run's exit tears
    down) a large folio's page-table entries in batches rather than one by one. Nothing else changes: later faults,
    in the zygote or in a run, get pages as before (no `MADV_HUGEPAGE`), and a run's first write into a huge page
    copies 4 KiB of it, as before. Returns the bytes collapsed (0 where the kernel cannot, or /proc is not there)."""
    try:
        with open("/proc/self/maps", encoding="ascii") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return 0
    collapsed = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
            continue
        if (fields[5] if len(fields) > 5 else "") not in ("", "[heap]"):  # anonymous: not a file, a stack or vdso
            continue
        low, high = (int(address, 16) for address in fields[0].split("-"))
        start, end = (low + HUGE_PAGE - 1) & -HUGE_PAGE, high & -HUGE_PAGE
        if end - start >= HUGE_PAGE and _libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            collapsed += end - start
    return collapsed


class HardeningError(Exception):
    """A layer that was required could not be applied; the run must not start."""


@dataclass
class HardeningReport:
    """What a run actually applied; the worker refuses a run whose report misses a required layer."""

    rlimits: bool = False
    landlock_abi: int = 0
    landlock: bool = False
    seccomp: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rlimits": self.rlimits,
            "landlock_abi": self.landlock_abi,
            "landlock": self.landlock,
            "seccomp": self.seccomp,
            "notes": list(self.notes),
        }


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl({option}) failed: {os.strerror(error)}")


def die_with_parent(signal_number: int) -> None:
    _prctl(PR_SET_PDEATHSIG, signal_number)


# --- rlimits ---------------------------------------------------------------------------------------


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    _current_soft, current_hard = resource.getrlimit(kind)
    wanted_hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        wanted_hard = min(wanted_hard, current_hard)  # never raise: the caller may already be limited
    resource.setrlimit(kind, (min(soft, wanted_hard), wanted_hard))


def address_space_bytes() -> int:
    statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)  # no file object: the zygote asks at every fork
    try:
        return int(os.read(statm, 256).split()[0]) * resource.getpagesize()
    finally:
        os.close(statm)


def apply_rlimits(limits: SandboxLimits, base_address_space: int) -> None:
    """`base_address_space`: bytes mapped before user code (the pre-imported runtime); memory_mb is on top."""
    cpu = int(limits.cpu_seconds)
    _lower(resource.RLIMIT_CPU, cpu, cpu + 1)  # SIGXCPU at the soft limit, SIGKILL one second later
    _lower(resource.RLIMIT_AS, base_address_space + int(limits.memory_mb) * 1024 * 1024)
    _lower(resource.RLIMIT_FSIZE, int(limits.file_size_mb) * 1024 * 1024)
    _lower(resource.RLIMIT_NOFILE, int(limits.open_files))
    _lower(resource.RLIMIT_NPROC, int(limits.threads) + 8)
    _lower(resource.RLIMIT_CORE, 0)
    _lower(resource.RLIMIT_MEMLOCK, 0)
    _lower(resource.RLIMIT_MSGQUEUE, 0)


def lower_cpu(limits: SandboxLimits) -> None:
    """A warm session's cycle child: the cycle's CPU limit (the session's own is its whole life's)."""
    cpu = int(limits.cpu_seconds)
    _lower(resource.RLIMIT_CPU, cpu, cpu + 1)


# --- Landlock --------------------------------------------------------------------------------------

_SYS_LANDLOCK_CREATE_RULESET = 444  # same number on every architecture
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_TRUNCATE = 1 << 14
_FS_IOCTL_DEV = 1 << 15
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM (ABI 1)
    if abi >= 2:
        rights |= 1 << 13  # REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


_FILE_ONLY_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    abi = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION)
    return int(abi) if abi > 0 else 0


def _ruleset_attr(abi: int) -> tuple[bytes, list[str]]:
    handled_fs = _fs_rights(abi)
    if abi >= 6:
        attr = struct.pack(
            "QQQ", handled_fs, _NET_BIND_TCP | _NET_CONNECT_TCP, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        )
        return attr, []
    if abi >= 4:
        attr = struct.pack("QQ", handled_fs, _NET_BIND_TCP | _NET_CONNECT_TCP)
        return attr, ["landlock ABI < 6: signals and abstract sockets scoped by namespaces and seccomp only"]
    return struct.pack("Q", handled_fs), ["landlock ABI < 4: TCP denied by the network namespace and seccomp only"]


class LandlockRules:
    """Read-only rules beneath `read_paths` and read-write ones beneath each run's own paths.

    The zygote makes one of these at start (the read paths are opened once and stay open, O_PATH) and,
    before forking each run, a ruleset holding the read rules plus that run's scratch folder
    (`ruleset`). The run only calls landlock_restrict_self on it (`restrict`). A ruleset is never
    shared between runs: rules added to one are seen by every holder of its descriptor.
    """

    def __init__(self, abi: int, read_paths: Iterable[str]) -> None:
        self.abi = abi
        self.handled_fs = _fs_rights(abi)
        self.attr, self.notes = _ruleset_attr(abi)
        read_rights = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        self.read_rules = [rule for rule in (_path_rule(path, read_rights & self.handled_fs) for path in read_paths)
                           if rule is not None]

    def ruleset(self, write_paths: Iterable[str]) -> int:
        """A new ruleset descriptor (close-on-exec) with the read rules and `write_paths` read-write."""
        buffer = ctypes.create_string_buffer(self.attr, len(self.attr))
        ruleset = int(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buffer, ctypes.c_size_t(len(self.attr)), 0))
        if ruleset < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_create_ruleset: {os.strerror(error)}")
        try:
            for fd, rights, path in self.read_rules:
                _add_rule(ruleset, fd, rights, path)
            for path in write_paths:
                rule = _path_rule(path, self.handled_fs)
                if rule is not None:
                    try:
                        _add_rule(ruleset, *rule)
                    finally:
                        os.close(rule[0])
        except BaseException:
            os.close(ruleset)
            raise
        return ruleset

    def close(self) -> None:
        for fd, _, _ in self.read_rules:
            os.close(fd)
        self.read_rules = []


def restrict_landlock(ruleset: int) -> None:
    """Enforce `ruleset` on this process (irrevocable), then close it."""
    try:
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_restrict_self: {os.strerror(error)}")
    finally:
        os.close(ruleset)


def _path_rule(path: str, rights: int) -> tuple[int, int, str] | None:
    """(O_PATH descriptor, rights, path) for a rule beneath `path`; None for a missing optional path."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None  # an optional path (e.g. /lib64 on some distributions)
    if not os.path.isdir(path):
        rights &= _FILE_ONLY_RIGHTS  # directory rights on a file are EINVAL
    return fd, rights, path


def _add_rule(ruleset: int, fd: int, rights: int, path: str) -> None:
    rule = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr is packed
    buffer = ctypes.create_string_buffer(rule, len(rule))
    if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, buffer, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"landlock_add_rule({path}): {os.strerror(error)}")


# --- seccomp ---------------------------------------------------------------------------------------

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_OFFSET_NR = 0
_OFFSET_ARCH = 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index  # low 32 bits of seccomp_data.args[index] on little-endian


_CLONE_THREAD = 0x00010000
# A warm session's process may fork its cycles, but never into new namespaces or as its parent's sibling.
_CLONE_NOT_FOR_SESSIONS = (0x00000080 | 0x00008000 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000
                           | 0x10000000 | 0x20000000 | 0x40000000)  # NEWTIME, PARENT, NEWNS, NEWCGROUP..NEWNET
_AF_UNIX = 1
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C

# x86_64 numbers (checked against asm/unistd_64.h by tests/runtime/test_harden.py).
_DENY_X86_64: dict[str, int] = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "tkill": 200,
    "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "process_madvise": 440, "kcmp": 312,
    "socket": 41, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "bpf": 321, "perf_event_open": 298, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 250, "add_key": 248, "request_key": 249,
    "userfaultfd": 323, "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179,
    "quotactl_fd": 443, "syslog": 103, "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114,
    "setgroups": 116, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "lookup_dcookie": 212, "vhangup": 153,
    "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "iopl": 172,
    "ioperm": 173, "modify_ldt": 154, "personality": 135, "mknod": 133, "mknodat": 259, "uselib": 134,
    "fanotify_init": 300,
    # System V IPC: one IPC namespace holds every run of a sandbox, so a segment, queue or semaphore
    # one strategy made was there for the next strategy to read (tests/runtime/hostile/35_reach_other_session).
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semctl": 66,
    "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
}  # fmt: skip
_X86_64_CLONE = 56
_X86_64_CLONE3 = 435
_X86_64_SOCKETPAIR = 53
_X86_64_IOCTL = 16
_X86_64_SIGNAL_TO_PID = {"kill": 62, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297}


def seccomp_supported() -> bool:
    return platform.machine() == "x86_64" and _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(own_pid: int, *, session: bool = False) -> bytes:
    """The BPF deny-list for a run whose pid (in its own namespace) is `own_pid`.

    `session`: the filter of a warm session's process (runtime/warm_child.py), which runs no user code
    and forks one child per cycle; each child stacks the full filter (`own_pid` its own) before user
    code, so a cycle is held by exactly the run's filter. The session's differs only in allowing
    `clone` of a plain process (no namespace flags, no CLONE_PARENT) and leaving signals to the child's
    filter (a cycle may signal itself, as a cold run may).

    What each syscall gets is `_syscall_rules`'; the program finds a number's rule by a binary search over
    the ranges of numbers that share one (`_search`), about eight comparisons, where a list of ~110 checks
    took up to 220. The kernel runs the program once per syscall number when the filter is attached (to
    cache the ones it always allows), so every run's and every warm cycle's attach costs that many times less.
    """
    return b"".join([*_prologue(), *_search(_ranges(_syscall_rules(own_pid, session=session)))])


def _prologue() -> list[bytes]:
    """Kill a foreign ABI, refuse x32 numbers, and leave the syscall number loaded."""
    return [
        _insn(_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH_X86_64),
        _insn(_RET_K, 0, 0, _RET_KILL_PROCESS),  # a foreign ABI (int 0x80) bypasses the table
        _insn(_LD_W_ABS, 0, 0, _OFFSET_NR),
        _insn(_JGE_K, 0, 1, _X32_SYSCALL_BIT),
        _insn(_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
    ]


_Block = tuple[bytes, ...]  # instructions that end in a return: what one syscall number gets


def _syscall_rules(own_pid: int, *, session: bool) -> dict[int, _Block]:
    """Each syscall number the filter does not simply allow, and the instructions that decide it."""
    eperm, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS
    deny: _Block = (_insn(_RET_K, 0, 0, eperm),)
    rules: dict[int, _Block] = {number: deny for number in _DENY_X86_64.values()}
    rules[_X86_64_CLONE3] = (_insn(_RET_K, 0, 0, enosys),)  # glibc falls back to clone
    # clone: threads (CLONE_THREAD) only, never a new process; a session: a plain process, no namespace.
    rules[_X86_64_CLONE] = (
        _insn(_LD_W_ABS, 0, 0, _arg_low(0)),
        _insn(_JSET_K, 0, 1, _CLONE_NOT_FOR_SESSIONS) if session else _insn(_JSET_K, 1, 0, _CLONE_THREAD),
        _insn(_RET_K, 0, 0, eperm),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    )
    # socketpair: AF_UNIX only (asyncio's self-pipe); socket() itself is denied above.
    rules[_X86_64_SOCKETPAIR] = (
        _insn(_LD_W_ABS, 0, 0, _arg_low(0)),
        _insn(_JEQ_K, 1, 0, _AF_UNIX),
        _insn(_RET_K, 0, 0, eperm),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
    )
    # ioctl: no TIOCSTI / TIOCLINUX (terminal input injection).
    rules[_X86_64_IOCTL] = (
        _insn(_LD_W_ABS, 0, 0, _arg_low(1)),
        _insn(_JEQ_K, 2, 0, _TIOCSTI),
        _insn(_JEQ_K, 1, 0, _TIOCLINUX),
        _insn(_RET_K, 0, 0, _RET_ALLOW),
        _insn(_RET_K, 0, 0, eperm),
    )
    # kill and friends: only to this process (pid 0 means its own process group, which is itself).
    for number in () if session else _X86_64_SIGNAL_TO_PID.values():
        rules[number] = (
            _insn(_LD_W_ABS, 0, 0, _arg_low(0)),
            _insn(_JEQ_K, 2, 0, own_pid),
            _insn(_JEQ_K, 1, 0, 0),
            _insn(_RET_K, 0, 0, eperm),
            _insn(_RET_K, 0, 0, _RET_ALLOW),
        )
    return rules


def _ranges(rules: dict[int, _Block]) -> list[tuple[int, _Block]]:
    """The numbers 0 and up as consecutive ranges, each (its first number, its block): the numbers between rules
    allowed, neighbours with the same block one range."""
    allow: _Block = (_insn(_RET_K, 0, 0, _RET_ALLOW),)
    ranges: list[tuple[int, _Block]] = []

    def add(first: int, block: _Block) -> None:
        if not ranges or ranges[-1][1] != block:
            ranges.append((first, block))

    after = 0  # the first number no range covers yet
    for number in sorted(rules):
        if number > after:
            add(after, allow)
        add(number, rules[number])
        after = number + 1
    add(after, allow)
    return ranges


def _search(ranges: list[tuple[int, _Block]]) -> list[bytes]:
    """A binary search over `ranges` on the loaded syscall number: `nr >= start` of the middle range goes right."""
    if len(ranges) == 1:
        return list(ranges[0][1])
    middle = len(ranges) // 2
    below, above = _search(ranges[:middle]), _search(ranges[middle:])
    if len(below) > 255:
        raise ValueError("the seccomp search's lower half is too long for a BPF jump")
    return [_insn(_JGE_K, len(below), 0, ranges[middle][0]), *below, *above]


_PID_PLACEHOLDER = 0x7FFF_FFFE  # above any pid (pid_max <= 2**22): patched with the run's own pid


class SeccompTemplate:
    """The deny-list compiled once (by the zygote); `for_pid` only writes a run's pid into its four
    signal checks, so a run applies exactly `seccomp_program(own_pid)` without building it."""

    def __init__(self) -> None:
        self.program = seccomp_program(_PID_PLACEHOLDER)
        self.offsets = [index * 8 + 4 for index in range(len(self.program) // 8)
                        if struct.unpack_from("I", self.program, index * 8 + 4)[0] == _PID_PLACEHOLDER]
        assert len(self.offsets) == len(_X86_64_SIGNAL_TO_PID)

    def for_pid(self, own_pid: int) -> bytes:
        program = bytearray(self.program)
        for offset in self.offsets:
            struct.pack_into("I", program, offset, own_pid)
        return bytes(program)

    def prebuilt(self) -> PrebuiltFilter:
        return PrebuiltFilter(self.program, self.offsets)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def apply_seccomp(program: bytes) -> None:
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"seccomp filter: {os.strerror(error)}")


class PrebuiltFilter:
    """The filter's buffer and its sock_fprog, made once by the zygote: each run and each warm cycle's child (forks
    of it, same addresses) writes only its pid into its copy and applies it, the same program as `for_pid`'s."""

    def __init__(self, program: bytes, offsets: list[int]) -> None:
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.offsets = offsets
        self.fprog = _SockFprog(len(program) // 8, ctypes.cast(self.buffer, ctypes.c_void_p))
        self.address = ctypes.addressof(self.fprog)

    def apply(self, own_pid: int) -> None:
        for offset in self.offsets:
            struct.pack_into("I", self.buffer, offset, own_pid)
        if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.address, 0, 0) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"seccomp filter: {os.strerror(error)}")



# --- all together ----------------------------------------------------------------------------------


class Confinement:
    """Landlock and seccomp, as far as this kernel offers them, prepared once by the zygote.

    `prepare(scratch)` runs in the zygote before each run is forked (a ruleset with that run's
    scratch folder); `apply(ruleset)` runs in the forked run before it is handed a cycle: it only
    enters the ruleset and installs the pre-compiled filter with its own pid. The result is the same
    confinement as building both in the run, at a fraction of the run's CPU. The per-run rlimits
    follow with `apply_rlimits` once the run's limits are known.
    """

    def __init__(self, read_paths: Iterable[str]) -> None:
        self.notes: list[str] = []
        self.landlock_abi = landlock_abi()
        self.landlock: LandlockRules | None = None
        if self.landlock_abi:
            try:
                self.landlock = LandlockRules(self.landlock_abi, read_paths)
            except OSError as error:
                self.notes.append(f"landlock failed: {error}")
        else:
            self.notes.append("landlock is not available in this kernel")
        self.seccomp = SeccompTemplate() if seccomp_supported() else None
        self.session_seccomp = seccomp_program(0, session=True) if self.seccomp is not None else None
        # The run's filter in a buffer made once, here: a run (or a warm cycle's child) writes its pid into its own
        # copy of the page and applies it, building nothing of its own.
        self.run_filter = self.seccomp.prebuilt() if self.seccomp is not None else None
        if self.seccomp is None:
            self.notes.append(f"seccomp filter has no syscall table for {platform.machine()}")

    def prepare(self, write_paths: Iterable[str]) -> tuple[int, str]:
        """A run's ruleset descriptor (-1 when there is none) and, if it failed, why."""
        if self.landlock is None:
            return -1, ""
        try:
            return self.landlock.ruleset(write_paths), ""
        except OSError as error:
            return -1, f"landlock failed: {error}"

    def apply(self, ruleset: int, failure: str = "", *, session: bool = False) -> HardeningReport:
        """`session`: a warm session's process, which may fork its cycles (`seccomp_program`); each
        cycle then calls `apply_cycle_filter` before user code."""
        report = HardeningReport(landlock_abi=self.landlock_abi, notes=list(self.notes))
        _prctl(PR_SET_DUMPABLE, 0)  # no core dumps, and /proc/<pid> of this run is closed to its peers
        _prctl(PR_SET_NO_NEW_PRIVS, 1)  # required by Landlock and seccomp without CAP_SYS_ADMIN
        if self.landlock is not None:
            if failure:
                report.notes.append(failure)
            elif ruleset >= 0:
                try:
                    restrict_landlock(ruleset)
                    report.landlock = True
                    report.notes += self.landlock.notes
                except OSError as error:
                    report.notes.append(f"landlock failed: {error}")
        if self.run_filter is not None:
            try:
                if session:
                    assert self.session_seccomp is not None
                    apply_seccomp(self.session_seccomp)
                else:
                    self.run_filter.apply(os.getpid())
                    report.seccomp = True
            except OSError as error:
                report.notes.append(f"seccomp failed: {error}")
        return report

    def apply_cycle_filter(self, report: HardeningReport) -> None:
        """In a warm session's cycle child: stack the run's own filter (no fork, signals to itself only)."""
        if self.run_filter is None:
            return
        try:
            self.run_filter.apply(os.getpid())
            report.seccomp = True
        except OSError as error:
            report.notes.append(f"seccomp failed: {error}")


def require(report: HardeningReport, required: Iterable[str]) -> None:
    """Raise HardeningError naming every `required` layer the report lacks."""
    missing = sorted(layer for layer in set(required) if not getattr(report, layer, False))
    if missing:
        raise HardeningError(f"required isolation layers missing: {', '.join(missing)} ({'; '.join(report.notes)})")
