"""Inside the sandbox: a warm session's process, which forks one fresh child per cycle (see warm.py).

The session is a run from the zygote like any other (bubblewrap, Landlock, rlimits), confined with the
session filter (``harden.seccomp_program(session=True)``: the run's deny-list, but a plain ``clone`` of a
process is allowed). It reads its ``spec`` (mode ``session``: limits, files), applies the rlimits,
compiles the strategy's files (never running any of them), answers ``ready`` and then serves::

    worker -> session   {"type": "cycle", "ctx": {...}}                    one frame in
    session -> worker   {"type": "cycle", "pid": n, "rss_kb": k} + 4 fds   the cycle's channel, stdout,
                                                                           stderr and status pipe

For each cycle it makes a fresh channel and fresh pipes and forks a child, which drops everything of the
session (its channel, its pipes, its status pipe: descriptors 4 and up), starts a new session of its own
(``setsid``), stacks the run's full seccomp filter (no fork, signals to itself only) and then runs the
cycle exactly as a cold run does from ``ready`` on. The session writes the child's pid and, once it has
reaped it, its exit code and CPU on the cycle's status pipe, as the zygote does for a run. So the worker
sees each cycle as a cold run: a fresh process, its own descriptors, its end of file, its exit.

Nothing a cycle does survives it: its memory is the child's copy-on-write pages, gone with the child; its
threads, signal handlers, atexit hooks, imports and module globals die with it; its files (the only place
it may write is the session's scratch folder) are deleted before the next cycle. The session process
itself never runs user code, so there is nothing of a cycle in it to inherit. When it cannot make the
scratch folder empty again, or anything else is off, it exits, and the worker starts a new session.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import traceback
from collections.abc import Callable
from typing import Any

from runtime import harden
from runtime.channel import BlockingChannel, ProtocolError, encode_frame
from runtime.limits import SandboxLimits
from runtime.loader import strategy_compile, strategy_hash

CHANNEL_FD = 3
CycleChild = Callable[[BlockingChannel, harden.HardeningReport, SandboxLimits, list[str], dict[str, str],
                       dict[str, Any]], None]


def serve_session(channel: BlockingChannel, report: harden.HardeningReport, base_address_space: int,
                  confinement: harden.Confinement, scratch: str, cycle_child: CycleChild) -> None:
    spec = channel.receive()
    allowance = SandboxLimits(**spec["limits"])  # the session's own
    limits = SandboxLimits(**spec["cycle_limits"])  # each cycle's
    required = list(spec["required_layers"])
    try:
        harden.apply_rlimits(allowance, base_address_space)
        report.rlimits = True
        harden.require(report, [layer for layer in required if layer != "seccomp"])  # seccomp: per cycle
        if "seccomp" in required and confinement.seccomp is None:
            raise harden.HardeningError("required isolation layers missing: seccomp")
    except (harden.HardeningError, OSError, ValueError) as error:
        channel.send({"type": "refused", "error": str(error)})
        return
    files = dict(spec["files"])
    strategy_compile(files, strategy_hash(files))
    channel.send({"type": "ready", "layers": report.as_dict()})
    sender = socket.socket(fileno=os.dup(CHANNEL_FD))
    while True:
        try:
            frame = channel.receive()
        except (ProtocolError, OSError):
            return  # the worker closed the session
        if frame.get("type") != "cycle" or channel.buffer:
            return  # "end", or anything unexpected: the worker starts a new session
        if not _cycle(sender, frame, report, limits, required, files, confinement, scratch, cycle_child):
            return


def _cycle(sender: socket.socket, frame: dict[str, Any], report: harden.HardeningReport, limits: SandboxLimits,
           required: list[str], files: dict[str, str], confinement: harden.Confinement, scratch: str,
           cycle_child: CycleChild) -> bool:
    """One cycle in a fresh child; False when the session must end (its scratch folder could not be emptied)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    (out_read, out_write), (err_read, err_write), (status_read, status_write) = os.pipe(), os.pipe(), os.pipe()
    session_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            _child(session_pid, theirs.fileno(), out_write, err_write, report, limits, required, files,
                   dict(frame.get("ctx") or {}), confinement, cycle_child)
            code = 0
        except BaseException:
            with contextlib.suppress(BaseException):
                traceback.print_exc()  # to the cycle's stderr: a warning line of this cycle
        finally:
            os._exit(code)
    theirs.close()
    for fd in (out_write, err_write):
        os.close(fd)
    _status(status_write, {"pid": pid})
    reply = encode_frame({"type": "cycle", "pid": pid, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    try:
        socket.send_fds(sender, [reply], [ours.fileno(), out_read, err_read, status_read])
    except OSError:
        os.kill(pid, signal.SIGKILL)
    finally:
        ours.close()
        for fd in (out_read, err_read, status_read):
            os.close(fd)
    _, status, usage = os.wait4(pid, 0)
    emptied = _empty(scratch)
    _status(status_write, {"exit": os.waitstatus_to_exitcode(status), "cpu": round(usage.ru_utime + usage.ru_stime, 3)})
    os.close(status_write)
    return emptied


def _child(session_pid: int, channel: int, out_write: int, err_write: int, report: harden.HardeningReport,
           limits: SandboxLimits, required: list[str], files: dict[str, str], ctx: dict[str, Any],
           confinement: harden.Confinement, cycle_child: CycleChild) -> None:
    harden.die_with_parent(signal.SIGKILL)
    if os.getppid() != session_pid:
        return
    os.setsid()  # its own process group: kill(0) reaches only this cycle
    os.dup2(out_write, 1)
    os.dup2(err_write, 2)
    os.dup2(channel, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 65536)  # the session's channel and status pipe among them
    harden.lower_cpu(limits)  # counted from zero in this process: the cycle's own CPU, as a cold run's
    cycle_report = harden.HardeningReport(landlock=report.landlock, landlock_abi=report.landlock_abi,
                                          rlimits=report.rlimits, notes=list(report.notes))
    confinement.apply_cycle_filter(cycle_report)
    cycle_child(BlockingChannel(CHANNEL_FD, 1 << 20), cycle_report, limits, required, files, ctx)
    os.closerange(0, CHANNEL_FD + 1)  # end of file now, before this address space is torn down


def _empty(scratch: str) -> bool:
    """Delete whatever the cycle left in the scratch folder; False if that fails (the session then ends)."""
    try:
        with os.scandir(scratch) as entries:
            found = [entry.path for entry in entries]
        for path in found:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        with os.scandir(scratch) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _status(fd: int, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(message).encode() + b"\n")
