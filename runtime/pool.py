"""``Sandbox``: one worker's zygotes (started, recycled, restarted when they die) and one cycle in one.

Nothing here trusts the sandbox: every frame is size-capped JSON, every signal is re-validated,
every call is checked against the venue allow-list and the per-cycle quotas (``protocol``), and the
run's process is gone (reaped by the zygote) before ``run_cycle`` returns (``session``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from runtime.channel import encode_frame
from runtime.layout import DEFAULT_PACKAGES
from runtime.limits import SandboxLimits
from runtime.outcome import CycleOutcome, OnCall, OnLog, SandboxUnavailable, json_default
from runtime.protocol import Run
from runtime.session import RunSession
from runtime.zygote_client import ZygoteProcess

logger = logging.getLogger("runtime")

DEFAULT_PRELOAD = ("numpy", "pandas")


class Sandbox:
    """One zygote (pre-forked runner) per worker process, recycled every `recycle_runs` runs or
    `recycle_seconds` seconds, restarted whenever it dies. Thread-safe; fork-aware (a forked
    worker starts its own zygote)."""

    def __init__(
        self,
        *,
        bwrap: str | None = "bwrap",
        packages: tuple[str, ...] = DEFAULT_PACKAGES,
        preload: tuple[str, ...] = DEFAULT_PRELOAD,
        recycle_runs: int = 500,
        recycle_seconds: float = 900.0,
    ) -> None:
        self.bwrap = shutil.which(bwrap) if bwrap else None
        self.bwrap_requested = bwrap
        self.packages = packages
        self.preload = preload
        self.recycle_runs = recycle_runs
        self.recycle_seconds = recycle_seconds
        self._zygote: ZygoteProcess | None = None
        self._retired: list[ZygoteProcess] = []
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._starter: ThreadPoolExecutor | None = None  # the one thread every zygote is started from
        self._next: Future[ZygoteProcess] | None = None  # a zygote starting on that thread: the first, or the next

    # -- zygote lifecycle --

    def _missing_layers(self, zygote: ZygoteProcess) -> list[str]:
        missing = [] if zygote.namespaces else ["namespaces"]
        if not zygote.hello.get("landlock_abi"):
            missing.append("landlock")
        if not zygote.hello.get("seccomp"):
            missing.append("seccomp")
        return missing

    def _start_zygote(self, limits: SandboxLimits) -> Future[ZygoteProcess]:
        """A new zygote, started from this sandbox's own long-lived thread: bwrap's --die-with-parent ties the
        zygote to the THREAD that starts it (PR_SET_PDEATHSIG), so one started by a short-lived thread (a lane of
        `strategy_backtest --sweep`) was SIGKILLed when that thread ended, with the runs other lanes had in it."""
        if self._starter is None:
            self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-zygote-start")
        return self._starter.submit(self._start_zygote_here, limits)

    def prestart(self, limits: SandboxLimits) -> None:
        """Start the zygote now, without waiting for it: a worker process calls this when it starts, so its first
        runs find the zygote up instead of waiting ~130 ms (lean; ~360 ms with numpy and pandas) for it."""
        with self._lock:
            self._adopt()
            if self._zygote is None and self._next is None:
                self._next = self._start_zygote(limits)

    def _adopt(self) -> None:
        """In a forked process, forget the parent's zygotes and starting thread (ours start on first need)."""
        if os.getpid() != self._owner_pid:  # forked worker: the parent's zygote is not ours to use
            for inherited in [*self._retired, *([self._zygote] if self._zygote else [])]:
                inherited.control.close()  # our copy only; the parent keeps talking to its zygote
            self._zygote, self._retired, self._owner_pid = None, [], os.getpid()
            self._starter, self._next = None, None  # the parent's starting thread is not in this process

    def _take_next(self, limits: SandboxLimits) -> ZygoteProcess:
        """The zygote started ahead, waiting for it if it is still starting, or one started now."""
        starting, self._next = self._next, None
        return (starting or self._start_zygote(limits)).result()

    def _worn(self, zygote: ZygoteProcess, *, times: int = 1) -> bool:
        return (zygote.runs >= self.recycle_runs * times
                or time.monotonic() - zygote.started > self.recycle_seconds * times)

    def _start_zygote_here(self, limits: SandboxLimits) -> ZygoteProcess:
        if self.bwrap is None and not limits.allow_weak:
            raise SandboxUnavailable(
                f"bubblewrap ({self.bwrap_requested or 'bwrap'}) is not installed, so strategies would run without "
                "namespaces: run scripts/install-sandbox-deps.sh, or set SANDBOX_ALLOW_WEAK=1 for development only"
            )
        zygote = ZygoteProcess(limits=limits, bwrap=self.bwrap, packages=self.packages, preload=self.preload)
        missing = self._missing_layers(zygote)
        if missing and not limits.allow_weak:
            zygote.close()
            raise SandboxUnavailable(
                f"isolation layers missing on this machine: {', '.join(missing)} (Landlock needs Linux 5.13+, the "
                "seccomp filter x86_64); set SANDBOX_ALLOW_WEAK=1 to run without them, for development only"
            )
        failed = zygote.hello.get("preload_failed") or {}
        if failed:
            logger.info("sandbox zygote could not preload %s", ", ".join(sorted(failed)))
        return zygote

    def _acquire(self, limits: SandboxLimits) -> ZygoteProcess:
        with self._lock:
            self._adopt()
            zygote = self._zygote
            if zygote is not None and not zygote.alive():
                self._retire(zygote)
                zygote = None
            elif zygote is not None and self._worn(zygote):
                # Recycled without a stall: its successor starts on the starter thread while it keeps serving,
                # and takes over once up (at twice the limit, runs wait for it as before).
                if self._next is None:
                    self._next = self._start_zygote(limits)
                if self._next.done() or self._worn(zygote, times=2):
                    self._retire(zygote)
                    zygote = None
            if zygote is None:
                zygote = self._zygote = self._take_next(limits)
            missing = self._missing_layers(zygote)
            if missing and not limits.allow_weak:
                raise SandboxUnavailable(f"isolation layers missing: {', '.join(missing)} and allow_weak is off")
            zygote.runs += 1
            zygote.active += 1
            return zygote

    def _release(self, zygote: ZygoteProcess) -> None:
        with self._lock:
            zygote.active -= 1
            if zygote.broken and zygote is self._zygote:
                self._retire(zygote)
            for old in [z for z in self._retired if z.active == 0]:
                self._retired.remove(old)
                old.close()

    def _retire(self, zygote: ZygoteProcess) -> None:
        if zygote is self._zygote:
            self._zygote = None
        if zygote.active == 0:
            zygote.close()
        else:
            self._retired.append(zygote)

    def layers(self, limits: SandboxLimits | None = None) -> dict[str, Any]:
        """Start the zygote if needed and say which isolation layers this machine provides."""
        limits = limits or SandboxLimits()
        zygote = self._acquire(limits)
        try:
            missing = self._missing_layers(zygote)
            return {
                "namespaces": zygote.namespaces,
                "landlock_abi": zygote.hello.get("landlock_abi", 0),
                "seccomp": bool(zygote.hello.get("seccomp")),
                "rlimits": True,
                "missing": missing,
                "preloaded": zygote.hello.get("preloaded", []),
            }
        finally:
            zygote.runs -= 1
            self._release(zygote)

    def close(self) -> None:
        with self._lock:
            if os.getpid() != self._owner_pid:
                return
            starting, self._next = self._next, None
            ahead = [starting.result()] if starting is not None and starting.exception() is None else []
            for zygote in [*self._retired, *([self._zygote] if self._zygote else []), *ahead]:
                zygote.close()
            self._zygote, self._retired = None, []

    # -- one cycle --

    def run_cycle(
        self,
        files: Mapping[str, str],
        ctx: Mapping[str, Any],
        on_call: OnCall,
        limits: SandboxLimits | None = None,
        on_log: OnLog | None = None,
    ) -> CycleOutcome:
        limits = limits or SandboxLimits()
        zygote = self._acquire(limits)
        try:
            return self._execute(zygote, files, ctx, on_call, limits, on_log)
        finally:
            self._release(zygote)

    def _execute(
        self,
        zygote: ZygoteProcess,
        files: Mapping[str, str],
        ctx: Mapping[str, Any],
        on_call: OnCall,
        limits: SandboxLimits,
        on_log: OnLog | None = None,
    ) -> CycleOutcome:
        started = time.monotonic()
        deadline = started + float(limits.wall_seconds)
        missing = self._missing_layers(zygote)
        run = Run(limits, on_call, _platform(files, ctx), {str(p["position_id"]) for p in ctx.get("positions") or []},
                   on_log)
        if missing:
            message = f"SANDBOX WEAK MODE (development only): running without {', '.join(missing)}"
            logger.warning("%s; strategy %s", message, ctx.get("strategy_id"))
            run.log("warning", message)
        required = [layer for layer in ("rlimits", "landlock", "seccomp") if layer not in missing]
        run.required = required
        spec = {
            "type": "spec",
            "limits": limits.as_dict(),
            "files": dict(files),
            "ctx": dict(ctx),
            "required_layers": required,
        }
        spec_frame = encode_frame(spec, default=json_default)  # bad input fails here, in the worker
        token = secrets.token_hex(16)
        channel, channel_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pipes = {name: os.pipe() for name in ("stdout", "stderr", "status")}
        try:
            zygote.spawn(token, [channel_child.fileno(), pipes["stdout"][1], pipes["stderr"][1], pipes["status"][1]])
        except OSError as broken:
            zygote.destroy()
            raise SandboxUnavailable(f"the sandbox zygote is gone: {broken}") from broken
        finally:
            channel_child.close()
            for _, write_end in pipes.values():
                os.close(write_end)
        session = RunSession(run, zygote, token, channel, {name: r for name, (r, _) in pipes.items()}, deadline, limits)
        try:
            session.send_spec(spec_frame)
            session.loop()
        finally:
            session.close()
        status, error, trace, state = session.verdict(ctx)
        run.deliver()
        layers = dict(run.ready or {}, namespaces=zygote.namespaces)
        result = run.result or {}
        return CycleOutcome(
            status=status,
            entries=result.get("entries", []),
            exits=result.get("exits", []),
            logs=run.logs,
            error=error,
            traceback=trace,
            state=state,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            calls=run.calls,
            layers=layers,
            weak=bool(missing),
            run_pid=session.pid,
        )


def _platform(files: Mapping[str, str], ctx: Mapping[str, Any]) -> str:
    platform = ctx.get("platform")
    if not platform:
        try:
            platform = json.loads(files.get("config.json") or "{}").get("platform")
        except (ValueError, AttributeError):
            platform = None
    return str(platform or "")
