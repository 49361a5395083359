"""Inside the sandbox: a warm session's process, which forks one fresh child per cycle (see warm.py).

The session is a run from the zygote like any other (bubblewrap, Landlock, rlimits), confined with the
session filter (``harden.seccomp_program(session=True)``: the run's deny-list, but a plain ``clone`` of a
process is allowed). It reads its ``spec`` (mode ``session``: limits, files), applies the rlimits,
compiles the strategy's files (never running any of them), answers ``ready`` and then serves::

    worker -> session   {"type": "cycle", "ctx": {...}}                    one frame in
    session -> worker   {"type": "cycle", "pid": n, "rss_kb": k} + 4 fds   the cycle's channel, stdout,
                                                                           stderr and status pipe

For each cycle it makes a fresh channel and fresh pipes and forks a child ahead of time (as the zygote
keeps a spare), which drops everything of the session (its channel, its pipes, its status pipe:
descriptors 4 and up), starts a new session of its own (``setsid``), stacks the run's full seccomp filter
(no fork, signals to itself only) and waits; the session passes it the cycle's frame as it comes, and
from there the child runs the cycle exactly as a cold run does from ``ready`` on. The session writes the
child's pid and, once it has reaped it, its exit code and CPU (and the session's own) on the cycle's
status pipe, as the zygote does for a run. So the worker sees each cycle as a cold run: a fresh process,
its own descriptors, its end of file, its exit.

Nothing a cycle does survives it: its memory is the child's copy-on-write pages, gone with the child; its
threads, signal handlers, atexit hooks, imports and module globals die with it; its files (the only place
it may write is the session's scratch folder) are deleted before the next cycle. The session process
itself never runs user code, so there is nothing of a cycle in it to inherit. When it cannot make the
scratch folder empty again, or anything else is off, it exits, and the worker starts a new session.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import resource
import shutil
import signal
import socket
import traceback
from collections.abc import Callable
from typing import Any

from runtime import forking, harden
from runtime.channel import BlockingChannel, ProtocolError, encode_frame
from runtime.cycle import cycle_rehearse
from runtime.limits import SandboxLimits
from runtime.loader import strategy_compile, strategy_hash

CHANNEL_FD = 3
SPEC_MAX_BYTES = 64 * 1024 * 1024  # a cycle's frame comes from the trusted worker
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
    # Done once here, not in every child: a rehearsal of a cycle (our own strategy) so that the children find the
    # interpreter's caches filled; then the session's garbage is collected.
    cycle_rehearse()
    gc.collect()
    channel.send({"type": "ready", "layers": report.as_dict()})
    sender = socket.socket(fileno=os.dup(CHANNEL_FD))
    fork = functools.partial(_NextChild, report, limits, required, files, confinement, cycle_child)
    child = fork()
    while True:
        try:
            frame = channel.receive_bytes()  # a cycle: the worker ends a session by closing it
        except (ProtocolError, OSError):
            return
        if channel.buffer or not child.serve(sender, frame, scratch):
            return  # more than one frame, or a scratch folder that could not be emptied
        child = fork()  # the next cycle's child, forked and confined while the worker is elsewhere


class _NextChild:
    """The next cycle's process: forked and confined ahead of its cycle (neither is on the cycle's
    critical path), it waits for its cycle's frame on a channel of its own, then runs the cycle."""

    def __init__(self, report: harden.HardeningReport, limits: SandboxLimits, required: list[str],
                 files: dict[str, str], confinement: harden.Confinement, cycle_child: CycleChild) -> None:
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        (self.out_read, out_write), (self.err_read, err_write) = os.pipe(), os.pipe()
        self.status_read, self.status_write = os.pipe()
        session_pid = os.getpid()
        self.pid = forking.fork()  # libc's, without CPython's after-fork handlers
        if self.pid == 0:
            code = 70
            try:
                _child(session_pid, theirs.fileno(), out_write, err_write, report, limits, required, files,
                       confinement, cycle_child)
                code = 0
            except BaseException:
                with contextlib.suppress(BaseException):
                    traceback.print_exc()  # to the cycle's stderr: a warning line of this cycle
            finally:
                os._exit(code)
        theirs.close()
        for fd in (out_write, err_write):
            os.close(fd)

    def serve(self, sender: socket.socket, frame: bytes, scratch: str) -> bool:
        """Hand it its cycle and the worker its descriptors, reap it; False if the scratch folder stays dirty."""
        with contextlib.suppress(OSError):  # a child that died waiting: the worker reads its exit status
            self.ours.sendall(frame)
        _status(self.status_write, {"pid": self.pid})
        reply = encode_frame({"type": "cycle", "pid": self.pid,
                              "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
        try:
            socket.send_fds(sender, [reply], [self.ours.fileno(), self.out_read, self.err_read, self.status_read])
        except OSError:
            os.kill(self.pid, signal.SIGKILL)
        finally:
            self.ours.close()
            for fd in (self.out_read, self.err_read, self.status_read):
                os.close(fd)
        _, status, usage = os.wait4(self.pid, 0)
        emptied = _empty(scratch)
        own = resource.getrusage(resource.RUSAGE_SELF)
        _status(self.status_write, {"exit": os.waitstatus_to_exitcode(status),
                                    "cpu": round(usage.ru_utime + usage.ru_stime, 6),
                                    "session_cpu": round(own.ru_utime + own.ru_stime, 6)})
        os.close(self.status_write)
        return emptied


def _child(session_pid: int, channel: int, out_write: int, err_write: int, report: harden.HardeningReport,
           limits: SandboxLimits, required: list[str], files: dict[str, str], confinement: harden.Confinement,
           cycle_child: CycleChild) -> None:
    harden.die_with_parent(signal.SIGKILL)
    if os.getppid() != session_pid:
        return
    os.setsid()  # its own process group: kill(0) reaches only this cycle
    os.dup2(out_write, 1)
    os.dup2(err_write, 2)
    os.dup2(channel, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 65536)  # the session's channel and status pipes among them
    harden.lower_cpu(limits)  # counted from zero in this process: the cycle's own CPU, as a cold run's
    cycle_report = harden.HardeningReport(landlock=report.landlock, landlock_abi=report.landlock_abi,
                                          rlimits=report.rlimits, notes=list(report.notes))
    confinement.apply_cycle_filter(cycle_report)
    cycles = BlockingChannel(CHANNEL_FD, SPEC_MAX_BYTES)
    frame = cycles.receive()  # no user code has run in this process yet
    if frame.get("type") != "cycle":
        return
    cycle_child(cycles, cycle_report, limits, required, files, dict(frame.get("ctx") or {}))
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
