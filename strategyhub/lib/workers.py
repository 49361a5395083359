"""Who runs a cycle or a backtest: a worker's identity (host:pid), and whether that process is gone.

Recorded on each run it claims (`Execution.worker`, `Backtest.worker`), so a run whose process died is recognised
at once rather than when its time limit runs out.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path


@functools.cache
def this_host() -> str:
    """The host part of `worker_id`: the hostname, then the kernel's boot id and this PID namespace.

    Hostnames repeat (containers, images cloned from one template) and PID numbers repeat across PID
    namespaces, so a pid is only comparable with /proc here when both of those match too."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:
        boot = namespace = "?"
    return f"{socket.gethostname()}@{boot}.{namespace}"


def worker_id(pid: int | None = None) -> str:
    """Which process runs a cycle (host:pid), so a run whose process died is recognised at once."""
    return f"{this_host()}:{os.getpid() if pid is None else pid}"


def process_gone(worker: str) -> bool:
    """True when `worker` (host:pid, see `worker_id`) was a process on this host that no longer runs (or is a
    zombie). Another host's process, even one with the same hostname, is never judged from our /proc."""
    host, _, pid = worker.rpartition(":")
    if host != this_host() or not pid.isdigit() or not _proc_is_ours():
        return False  # another machine's (or PID namespace's) process: only the time limit can tell
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def _proc_is_ours() -> bool:
    """/proc shows this PID namespace's processes (not a parent's, mounted before an `unshare --pid`)."""
    try:
        return int(os.readlink("/proc/self")) == os.getpid()
    except (OSError, ValueError):
        return False
