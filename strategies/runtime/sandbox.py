"""The worker's side of the sandbox: start the zygote, run one cycle in it, enforce every limit.

See the package docstring (``strategies.runtime``) for the public API and docs/sandbox.md for
the design. Nothing here trusts the sandbox: every frame is size-capped JSON, every signal is
re-validated, every call is checked against the venue allow-list and the per-cycle quotas, and
the run's process is gone (reaped by the zygote) before ``run_cycle`` returns.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import re
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from strategies.runtime.channel import FrameDecoder, ProtocolError, encode_frame
from strategies.runtime.cycle import state_error
from strategies.runtime.limits import SandboxLimits
from strategies.sdk import LOG_LEVELS, VENUE_METHODS, EntrySignal, ExitSignal, SignalError

logger = logging.getLogger("strategies.runtime")

OnCall = Callable[[str, str, dict[str, Any]], Any]
# Called with the lines received since the last call (often none) at least every LIVE_INTERVAL
# seconds while a run lasts, and once after it ends: how a worker streams a long run's log.
OnLog = Callable[[list["LogLine"]], None]
LIVE_INTERVAL = 0.05

SUCCEEDED, FAILED, TIMED_OUT = "succeeded", "failed", "timed_out"
REPO_ROOT = Path(__file__).resolve().parents[2]
# Only these files of the repository exist inside the sandbox: the SDK and the runtime, no settings, no .env.
# trading/venues/platforms.py alone: inside, `trading` is a namespace package holding only the platform names.
APP_FILES = (
    "strategies/__init__.py", "strategies/sdk.py", "servers/__init__.py", "servers/strategies.py",
    "trading/venues/platforms.py",
)
APP_DIRS = ("strategies/runtime",)
DEFAULT_PACKAGES = ("numpy", "numpy.libs", "pandas", "pandas.libs", "dateutil", "pytz", "tzdata", "six")
DEFAULT_PRELOAD = ("numpy", "pandas")
SANDBOX_UID = 65534  # "nobody" inside the user namespace
SANDBOX_TMP = "/tmp"  # noqa: S108 - a tmpfs of the sandbox's own mount namespace, never the host's /tmp
SANDBOX_APP, SANDBOX_SITE, SANDBOX_SCRATCH = "/sandbox/app", "/sandbox/site", f"{SANDBOX_TMP}/runs"
SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TZ": "UTC",
    "HOME": SANDBOX_TMP,
    "OPENBLAS_NUM_THREADS": "1",  # numpy's BLAS threads would each reserve address space
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}
BOOT = (
    "import json, sys; c = json.loads(sys.argv[1]); sys.path[:0] = c['path_head']; sys.path += c['path_tail']; "
    "from strategies.runtime.zygote import main; main()"
)
HELLO_TIMEOUT = 20.0
EXIT_GRACE = 0.5  # a run that sent its result exits at once; past this it is killed
KILL_GRACE = 2.0  # a killed run is reaped at once; past this the whole sandbox is torn down
TEXT_CAP = 64 * 1024  # error and traceback texts kept from a run


class SandboxUnavailable(RuntimeError):
    """No cycle could start: an isolation layer is missing (and allow_weak is off) or the sandbox is broken."""


class VenueCallError(Exception):
    """Raise from `on_call` to refuse a call; the message is shown to the strategy, so keep secrets out of it."""


@dataclass(frozen=True)
class LogLine:
    seq: int
    ts: datetime  # when the worker received it: a script cannot forge it
    level: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts.isoformat(), "level": self.level, "message": self.message}


@dataclass(frozen=True)
class CycleOutcome:
    """What one cycle did. `state` is the state to keep: the new one, or the previous one when unusable."""

    status: str  # succeeded | failed | timed_out
    entries: list[dict[str, Any]]
    exits: list[dict[str, Any]]
    logs: list[LogLine]
    error: str | None
    traceback: str | None
    state: dict[str, Any]
    duration_ms: float
    calls: int
    layers: dict[str, Any] = field(default_factory=dict)
    weak: bool = False
    run_pid: int | None = None  # the run's pid inside the sandbox's pid namespace, for diagnostics

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "entries": self.entries,
            "exits": self.exits,
            "logs": [line.as_dict() for line in self.logs],
            "error": self.error,
            "traceback": self.traceback,
            "state": self.state,
            "duration_ms": self.duration_ms,
            "calls": self.calls,
            "layers": self.layers,
            "weak": self.weak,
            "run_pid": self.run_pid,
        }


def json_default(value: Any) -> Any:
    """How the worker's own values (Decimal money, aware datetimes) cross into the sandbox."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- layout: what the sandbox sees ----------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    python: str
    prefix: str
    binds: tuple[tuple[str, str], ...]  # (host path, sandbox path), read-only
    path_head: tuple[str, ...]
    path_tail: tuple[str, ...]
    read_paths: tuple[str, ...]
    scratch_root: str


def _site_packages() -> list[Path]:
    return [Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


def _package_dirs(names: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for site in _site_packages():
        for name in names:
            for candidate in (site / name, site / f"{name}.py"):
                if name not in found and candidate.exists():
                    found[name] = candidate
    return found


def _bwrap_layout(packages: tuple[str, ...]) -> _Layout:
    python = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    binds = [(str(REPO_ROOT / rel), f"{SANDBOX_APP}/{rel}") for rel in (*APP_FILES, *APP_DIRS)]
    binds += [(str(path), f"{SANDBOX_SITE}/{path.name}") for path in _package_dirs(packages).values()]
    if not prefix.startswith("/usr/"):
        binds.append((prefix, prefix))
    return _Layout(
        python=python,
        prefix=prefix,
        binds=tuple(binds),
        path_head=(SANDBOX_APP,),
        path_tail=(SANDBOX_SITE,),
        read_paths=("/usr", prefix, "/sandbox", "/dev/urandom", "/dev/random", "/dev/zero"),
        scratch_root=SANDBOX_SCRATCH,
    )


def _host_layout(work_dir: Path) -> _Layout:
    """Weak mode without bubblewrap: the runtime is copied to a private folder; the host is visible."""
    app = work_dir / "app"
    for rel in APP_FILES:
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / rel, app / rel)
    for rel in APP_DIRS:
        shutil.copytree(REPO_ROOT / rel, app / rel, ignore=shutil.ignore_patterns("__pycache__"))
    prefix = os.path.realpath(sys.base_prefix)
    sites = tuple(str(site) for site in _site_packages())
    return _Layout(
        python=os.path.realpath(sys.executable),
        prefix=prefix,
        binds=(),
        path_head=(str(app),),
        path_tail=sites,
        read_paths=("/usr", prefix, str(app), *sites, "/dev/urandom", "/dev/random", "/dev/zero"),
        scratch_root=str(work_dir / "runs"),
    )


# --- the zygote process, seen from the worker ------------------------------------------------------


class _ZygoteProcess:
    def __init__(
        self, *, limits: SandboxLimits, bwrap: str | None, packages: tuple[str, ...], preload: tuple[str, ...]
    ):
        self.started = time.monotonic()
        self.runs = 0
        self.active = 0
        self.broken = False
        self.namespaces = bwrap is not None
        self._work_dir: Path | None = None
        self._lock = threading.Lock()
        if bwrap is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="strategy-sandbox-"))
            layout = _host_layout(self._work_dir)
        else:
            layout = _bwrap_layout(packages)
        self.control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe()
        config = {
            "control_fd": control_child.fileno(),
            "preload": list(preload),
            "read_paths": list(layout.read_paths),
            "scratch_root": layout.scratch_root,
            "path_head": list(layout.path_head),
            "path_tail": list(layout.path_tail),
        }
        command = [layout.python, "-I", "-S", "-B", "-c", BOOT, json.dumps(config)]
        if bwrap is not None:
            command = [*self._bwrap_command(bwrap, layout, info_write, limits), "--", *command]
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the zygote
        try:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                pass_fds=(control_child.fileno(), info_write),
                env=dict(SANDBOX_ENV),  # bwrap's own environment would be readable as /proc/1/environ
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                start_new_session=True,
                cwd="/",
            )
        finally:
            control_child.close()
            os.close(info_write)
        self._info = os.fdopen(info_read, "rb")
        self.hello = self._await_hello()
        self.sandbox_init_pid = self._read_init_pid() if bwrap is not None else None

    @staticmethod
    def _bwrap_command(bwrap: str, layout: _Layout, info_fd: int, limits: SandboxLimits) -> list[str]:
        argv = [
            bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--clearenv", "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "strategy", "--info-fd", str(info_fd),
        ]  # fmt: skip
        for name, value in SANDBOX_ENV.items():
            argv += ["--setenv", name, value]
        argv += ["--ro-bind", "/usr", "/usr"]
        for top in ("lib", "lib64", "bin", "sbin"):
            path = f"/{top}"
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                argv += ["--ro-bind", path, path]
        for host, inside in layout.binds:
            argv += ["--ro-bind", host, inside]
        argv += ["--dev", "/dev", "--proc", "/proc"]
        argv += ["--size", str(int(limits.scratch_mb) * 1024 * 1024), "--tmpfs", SANDBOX_TMP]
        argv += ["--remount-ro", "/", "--chdir", SANDBOX_TMP]
        return argv

    def _diagnostics(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read(4000).decode(errors="replace").strip()

    def _await_hello(self) -> dict[str, Any]:
        self.control.settimeout(HELLO_TIMEOUT)
        try:
            data = self.control.recv(65536)
        except OSError as error:
            data = b""
            logger.warning("sandbox zygote did not answer: %s", error)
        if not data:
            self.close()
            raise SandboxUnavailable(f"the sandbox failed to start: {self._diagnostics() or 'no output'}")
        hello: dict[str, Any] = json.loads(data)
        self.control.settimeout(None)
        return hello

    def _read_init_pid(self) -> int | None:
        # bwrap writes {"child-pid": N} before it starts the zygote, so it is there by hello time.
        os.set_blocking(self._info.fileno(), False)
        try:
            found = re.search(rb'"child-pid"\s*:\s*(\d+)', os.read(self._info.fileno(), 4096))
        except BlockingIOError:
            return None
        return int(found.group(1)) if found else None

    def spawn(self, token: str, fds: list[int]) -> None:
        with self._lock:
            socket.send_fds(self.control, [json.dumps({"op": "spawn", "run": token}).encode()], fds)

    def kill(self, token: str) -> None:
        try:
            with self._lock:
                self.control.send(json.dumps({"op": "kill", "run": token}).encode())
        except OSError:
            self.destroy()

    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def destroy(self) -> None:
        """Tear the whole sandbox down: every process in its pid namespace dies with its init."""
        self.broken = True
        if self.process.poll() is None:
            target = self.sandbox_init_pid
            try:
                if target is not None:
                    os.kill(target, signal.SIGKILL)
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.close()

    def close(self) -> None:
        self.control.close()  # end of file tells the zygote to kill its runs and exit
        try:
            self.process.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._info.close()
        self._stderr.close()
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)


# --- one run ---------------------------------------------------------------------------------------


class _Stop(Exception):
    """Ends a run early: a limit was hit or the sandbox broke the protocol."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class _Run:
    """The worker's bookkeeping for one cycle: logs, calls, quotas, the result."""

    def __init__(self, limits: SandboxLimits, on_call: OnCall, platform: str, position_ids: set[str],
                 on_log: OnLog | None = None) -> None:
        self.limits = limits
        self.on_call = on_call
        self.on_log = on_log
        self.delivered = 0
        self.platform = platform
        self.position_ids = position_ids
        self.logs: list[LogLine] = []
        self.output_bytes = 0
        self.calls = 0
        self.reply_bytes = 0
        self.ready: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.pipe_buffers = {"stdout": b"", "stderr": b""}
        self.required: list[str] = []

    def log(self, level: str, message: str) -> None:
        size = len(message.encode())
        budget = int(self.limits.output_kb) * 1024
        if self.output_bytes + size > budget:
            kept = message.encode()[: max(0, budget - self.output_bytes)].decode(errors="ignore")
            if kept:
                self._append(level, kept)
            self.output_bytes = budget
            raise _Stop(FAILED, f"the strategy wrote more than {self.limits.output_kb} KiB of logs and output")
        self.output_bytes += size
        self._append(level, message)

    def _append(self, level: str, message: str) -> None:
        self.logs.append(LogLine(len(self.logs) + 1, datetime.now(UTC), level, message))

    def deliver(self) -> None:
        """Hand the lines received since the last delivery to `on_log`; its failure never fails the run."""
        if self.on_log is None:
            return
        batch, self.delivered = self.logs[self.delivered:], len(self.logs)
        try:
            self.on_log(batch)
        except Exception:
            logger.exception("on_log failed; the lines stay in the run's outcome")

    def pipe(self, stream: str, data: bytes) -> None:
        level = "info" if stream == "stdout" else "warning"
        buffered = self.pipe_buffers[stream] + data
        *lines, rest = buffered.split(b"\n")
        self.pipe_buffers[stream] = rest
        for line in lines:
            self.log(level, line.decode(errors="replace").rstrip("\r"))
        if len(rest) > int(self.limits.output_kb) * 1024:
            self.log(level, rest.decode(errors="replace"))

    def flush_pipes(self) -> None:
        for stream, rest in self.pipe_buffers.items():
            if rest:
                self.pipe_buffers[stream] = b""
                self.log("info" if stream == "stdout" else "warning", rest.decode(errors="replace"))

    def frame(self, message: dict[str, Any], channel: socket.socket, deadline: float) -> None:
        kind = message["type"]
        if self.result is not None:
            raise _Stop(FAILED, "the sandbox kept talking after its result")
        if self.ready is None:
            if kind == "refused":
                raise SandboxUnavailable(f"the sandbox refused to run the strategy: {message.get('error')}")
            if kind != "ready" or not isinstance(message.get("layers"), dict):
                raise _Stop(FAILED, f"protocol violation: expected ready, got {kind!r}")
            missing = [layer for layer in self.required if not message["layers"].get(layer)]
            if missing:
                raise SandboxUnavailable(f"the run could not apply required layers: {', '.join(missing)}")
            self.ready = message["layers"]
            return
        if kind == "log":
            level, text = message.get("level"), message.get("message")
            if level not in LOG_LEVELS or not isinstance(text, str):
                raise _Stop(FAILED, "protocol violation: malformed log frame")
            self.log(str(level), text)
        elif kind == "call":
            self.call(message, channel, deadline)
        elif kind == "result":
            self.result = self._checked_result(message)
        else:
            raise _Stop(FAILED, f"protocol violation: unknown frame type {kind[:40]!r}")

    def call(self, message: dict[str, Any], channel: socket.socket, deadline: float) -> None:
        call_id, venue, method, kwargs = (message.get(k) for k in ("id", "venue", "method", "kwargs"))
        if not isinstance(call_id, int) or not isinstance(venue, str) or not isinstance(method, str):
            raise _Stop(FAILED, "protocol violation: malformed call frame")
        if not isinstance(kwargs, dict):
            raise _Stop(FAILED, "protocol violation: call arguments must be an object")
        self.calls += 1
        if self.calls > int(self.limits.calls_per_cycle):
            raise _Stop(FAILED, f"the strategy made more than {self.limits.calls_per_cycle} venue calls in one cycle")
        reply: dict[str, Any]
        if method not in VENUE_METHODS.get(venue, {}):
            reply = _refusal(call_id, f"unknown venue method {venue}.{method}"[:200])
        else:
            reply = self._answer(call_id, venue, method, kwargs)
        channel.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            channel.sendall(encode_frame(reply))
        except TimeoutError:
            raise _Stop(TIMED_OUT, "the strategy stopped reading replies and ran out of time") from None
        except OSError:
            pass  # the run died; its exit status tells why

    def _answer(self, call_id: int, venue: str, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.on_call(venue, method, kwargs)
            encoded = json.dumps(value, allow_nan=False, default=json_default, separators=(",", ":"))
        except VenueCallError as error:
            return _refusal(call_id, str(error)[:1000])
        except Exception as error:  # credentials and URLs stay in the worker's log, not the sandbox
            logger.exception("venue call %s.%s failed", venue, method)
            return _refusal(call_id, f"{venue}.{method} failed ({type(error).__name__})")
        size = len(encoded.encode())
        if size > int(self.limits.reply_kb) * 1024:
            return _refusal(call_id, f"reply of {size // 1024} KiB is over the {self.limits.reply_kb} KiB limit")
        self.reply_bytes += size
        if self.reply_bytes > int(self.limits.replies_total_kb) * 1024:
            return _refusal(call_id, f"replies of this cycle are over the {self.limits.replies_total_kb} KiB limit")
        return {"type": "reply", "id": call_id, "ok": True, "value": json.loads(encoded)}

    def _checked_result(self, message: dict[str, Any]) -> dict[str, Any]:
        """Re-validate everything the sandbox claims: its code ran beside the user's."""
        entries, exits, state = message.get("entries"), message.get("exits"), message.get("state")
        error, trace = message.get("error"), message.get("traceback")
        if not isinstance(entries, list) or not isinstance(exits, list):
            raise _Stop(FAILED, "protocol violation: result without entries and exits lists")
        try:
            checked_entries = []
            for data in entries:
                signal_ = EntrySignal.from_dict(data)
                signal_.check_platform(self.platform)
                checked_entries.append(signal_.as_dict())
            checked_exits = []
            for data in exits:
                exit_signal = ExitSignal.from_dict(data)
                if exit_signal.position_id not in self.position_ids:
                    raise SignalError(f"ExitSignal.position_id {exit_signal.position_id!r} is not an open position")
                checked_exits.append(exit_signal.as_dict())
        except (SignalError, TypeError) as problem:
            raise _Stop(FAILED, f"the sandbox returned an invalid signal: {problem}") from None
        if not (error is None or isinstance(error, str)) or not (trace is None or isinstance(trace, str)):
            raise _Stop(FAILED, "protocol violation: error and traceback must be text")
        if state is not None:
            problem_text = state_error(state, int(self.limits.state_kb) * 1024)
            if problem_text is not None:
                state = None
                error = f"{error}; {problem_text}" if error else problem_text
        return {
            "entries": checked_entries,
            "exits": checked_exits,
            "state": state,
            "error": error[:TEXT_CAP] if error else None,
            "traceback": trace[:TEXT_CAP] if trace else None,
        }


def _refusal(call_id: int, message: str) -> dict[str, Any]:
    return {"type": "reply", "id": call_id, "ok": False, "error": message}


def _describe_exit(code: int | None, cpu: float, limits: SandboxLimits) -> tuple[str, str]:
    if code is None:
        return FAILED, "the strategy process vanished without an exit status"
    if code < 0:
        number = -code
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= limits.cpu_seconds):
            return TIMED_OUT, f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if number == signal.SIGXFSZ:
            return FAILED, f"file size limit of {limits.file_size_mb} MiB exceeded"
        return FAILED, f"the strategy process was killed by {name}"
    if code == 70:
        return FAILED, "the sandbox runtime failed before the strategy finished"
    return FAILED, f"the strategy process exited with code {code} before finishing the cycle"


# --- the sandbox -----------------------------------------------------------------------------------


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
        self._zygote: _ZygoteProcess | None = None
        self._retired: list[_ZygoteProcess] = []
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()

    # -- zygote lifecycle --

    def _missing_layers(self, zygote: _ZygoteProcess) -> list[str]:
        missing = [] if zygote.namespaces else ["namespaces"]
        if not zygote.hello.get("landlock_abi"):
            missing.append("landlock")
        if not zygote.hello.get("seccomp"):
            missing.append("seccomp")
        return missing

    def _start_zygote(self, limits: SandboxLimits) -> _ZygoteProcess:
        if self.bwrap is None and not limits.allow_weak:
            raise SandboxUnavailable(
                f"bubblewrap ({self.bwrap_requested or 'bwrap'}) is not installed, so strategies would run without "
                "namespaces: run scripts/install-sandbox-deps.sh, or set SANDBOX_ALLOW_WEAK=1 for development only"
            )
        zygote = _ZygoteProcess(limits=limits, bwrap=self.bwrap, packages=self.packages, preload=self.preload)
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

    def _acquire(self, limits: SandboxLimits) -> _ZygoteProcess:
        with self._lock:
            if os.getpid() != self._owner_pid:  # forked worker: the parent's zygote is not ours to use
                for inherited in [*self._retired, *([self._zygote] if self._zygote else [])]:
                    inherited.control.close()  # our copy only; the parent keeps talking to its zygote
                self._zygote, self._retired, self._owner_pid = None, [], os.getpid()
            zygote = self._zygote
            if zygote is not None and (
                not zygote.alive()
                or zygote.runs >= self.recycle_runs
                or time.monotonic() - zygote.started > self.recycle_seconds
            ):
                self._retire(zygote)
                zygote = None
            if zygote is None:
                zygote = self._zygote = self._start_zygote(limits)
            missing = self._missing_layers(zygote)
            if missing and not limits.allow_weak:
                raise SandboxUnavailable(f"isolation layers missing: {', '.join(missing)} and allow_weak is off")
            zygote.runs += 1
            zygote.active += 1
            return zygote

    def _release(self, zygote: _ZygoteProcess) -> None:
        with self._lock:
            zygote.active -= 1
            if zygote.broken and zygote is self._zygote:
                self._retire(zygote)
            for old in [z for z in self._retired if z.active == 0]:
                self._retired.remove(old)
                old.close()

    def _retire(self, zygote: _ZygoteProcess) -> None:
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
            for zygote in [*self._retired, *([self._zygote] if self._zygote else [])]:
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
        zygote: _ZygoteProcess,
        files: Mapping[str, str],
        ctx: Mapping[str, Any],
        on_call: OnCall,
        limits: SandboxLimits,
        on_log: OnLog | None = None,
    ) -> CycleOutcome:
        started = time.monotonic()
        deadline = started + float(limits.wall_seconds)
        missing = self._missing_layers(zygote)
        run = _Run(limits, on_call, _platform(files, ctx), {str(p["position_id"]) for p in ctx.get("positions") or []},
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
        session = _Session(run, zygote, token, channel, {name: r for name, (r, _) in pipes.items()}, deadline, limits)
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


class _Session:
    """The select loop of one run: frames, output pipes, the zygote's status pipe, the deadlines."""

    def __init__(
        self,
        run: _Run,
        zygote: _ZygoteProcess,
        token: str,
        channel: socket.socket,
        pipes: dict[str, int],
        deadline: float,
        limits: SandboxLimits,
    ) -> None:
        self.run, self.zygote, self.token, self.channel, self.limits = run, zygote, token, channel, limits
        self.pipes = pipes
        self.deadline = deadline
        self.decoder = FrameDecoder(int(limits.frame_kb) * 1024)
        self.selector = selectors.DefaultSelector()
        self.selector.register(channel, selectors.EVENT_READ, "channel")
        for name, fd in pipes.items():
            self.selector.register(fd, selectors.EVENT_READ, name)
        self.open = {"channel", *pipes}
        self.status_buffer = b""
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.exited = False
        self.cpu = 0.0
        self.stop: _Stop | None = None
        self.kill_at: float | None = None  # when to kill the run if it has not exited
        self.destroy_at: float | None = None  # when to tear down the zygote if the killed run is still there

    def send_spec(self, frame: bytes) -> None:
        self.channel.settimeout(max(0.001, self.deadline - time.monotonic()))
        try:
            self.channel.sendall(frame)
        except OSError:
            self._end(_Stop(TIMED_OUT, "the sandbox did not take the run in time"), kill=True)

    def _end(self, stop: _Stop | None, *, kill: bool) -> None:
        if stop is not None and self.stop is None and self.run.result is None:
            self.stop = stop
        now = time.monotonic()
        if kill:
            self._kill(now)
        elif self.kill_at is None:
            self.kill_at = now + EXIT_GRACE

    def _kill(self, now: float) -> None:
        if self.destroy_at is None and not self.exited:
            self.zygote.kill(self.token)
            self.destroy_at = now + KILL_GRACE

    @property
    def finished(self) -> bool:
        """The run is over: it exited, or it sent its result and closed every stream it had."""
        streams_closed = self.open <= {"status"}
        return streams_closed and (self.exited or self.run.result is not None)

    def loop(self) -> None:
        while self.open and not self.finished:
            now = time.monotonic()
            if self.destroy_at is not None and now >= self.destroy_at:
                self.zygote.destroy()  # a killed run that is not reaped means a broken zygote
                if self.stop is None and self.run.result is None:
                    self.stop = _Stop(FAILED, "the sandbox stopped answering and was torn down")
                return
            if self.kill_at is not None and now >= self.kill_at:
                self.kill_at = None
                self._kill(now)
            if now >= self.deadline and self.run.result is None and self.stop is None:
                self._end(_Stop(TIMED_OUT, f"wall-clock limit of {self.limits.wall_seconds} s exceeded"), kill=True)
            wake = [t for t in (self.deadline, self.kill_at, self.destroy_at) if t is not None and t > now]
            timeout = max(0.0, min(wake) - now) if wake else 0.05
            if self.run.on_log is not None:
                timeout = min(timeout, LIVE_INTERVAL)
            for key, _ in self.selector.select(timeout):
                self._readable(str(key.data), key.fd)
            self.run.deliver()
        if not self.exited and self.destroy_at is None:
            # Result in and streams closed: the run is exiting. SIGKILL makes sure, without waiting
            # for its address space to be torn down; the zygote reaps it and removes its scratch folder.
            self.zygote.kill(self.token)

    def _readable(self, name: str, fd: int) -> None:
        try:
            data = self.channel.recv(1 << 16) if name == "channel" else os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(fd)
            self.open.discard(name)
            if name == "channel" and self.run.result is None:
                self._end(None, kill=False)  # channel gone: the run is dying; its exit status says why
            return
        if name == "status":
            self._status(data)
            return
        if self.stop is not None:
            return  # draining a run that is being killed
        try:
            if name == "channel":
                for message in self.decoder.feed(data):
                    self.run.frame(message, self.channel, self.deadline)
                    if self.run.result is not None:
                        self._end(None, kill=False)
            else:
                self.run.pipe(name, data)
        except ProtocolError as error:
            self._end(_Stop(FAILED, f"protocol violation: {error}"), kill=True)
        except _Stop as stop:
            self._end(stop, kill=True)

    def _status(self, data: bytes) -> None:
        self.status_buffer += data
        *lines, self.status_buffer = self.status_buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "pid" in message:
                self.pid = int(message["pid"])
            if "exit" in message:
                self.exited, self.exit_code = True, int(message["exit"])
                self.cpu = float(message.get("cpu") or 0.0)
                self.destroy_at = self.kill_at = None

    def verdict(self, ctx: Mapping[str, Any]) -> tuple[str, str | None, str | None, dict[str, Any]]:
        previous_state = dict(ctx.get("state") or {})
        try:
            self.run.flush_pipes()
        except _Stop as stop:
            self.stop = self.stop or stop
        result = self.run.result
        if result is not None:
            state = result["state"] if result["state"] is not None else previous_state
            status = FAILED if result["error"] else SUCCEEDED
            return status, result["error"], result["traceback"], state
        if self.stop is not None:
            return self.stop.status, self.stop.message, None, previous_state
        status, message = _describe_exit(self.exit_code if self.exited else None, self.cpu, self.limits)
        return status, message, None, previous_state

    def close(self) -> None:
        self.selector.close()
        self.channel.close()
        for name, fd in self.pipes.items():
            with contextlib.suppress(OSError):
                os.close(fd)
            self.open.discard(name)


# --- the per-process default -----------------------------------------------------------------------

_shared: dict[bool, Sandbox] = {}
_shared_lock = threading.Lock()
_preload_wanted: dict[int, bool] = {}


def wants_preload(files: Mapping[str, str]) -> bool:
    """Whether the strategy's own code imports a preloaded package (numpy, pandas), read from its AST.

    Only a speed choice: a strategy run on the lean zygote may still import them (the packages are
    bound in every sandbox), it only pays the import. Forking a zygote that holds numpy and pandas
    costs every run more (page tables, teardown), so strategies that never name them skip it.
    """
    key = hash(tuple(sorted(files.items())))
    found = _preload_wanted.get(key)
    if found is None:
        found = False
        for name, source in files.items():
            if not name.endswith(".py"):
                continue
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found = found or any(module.split(".")[0] in DEFAULT_PRELOAD for module in modules)
        if len(_preload_wanted) > 4096:
            _preload_wanted.clear()
        _preload_wanted[key] = found
    return found


def shared_sandbox(*, preload: bool = True) -> Sandbox:
    """This worker process's sandbox: one zygote with numpy and pandas preloaded, one lean one."""
    with _shared_lock:
        if preload not in _shared:
            _shared[preload] = Sandbox(preload=DEFAULT_PRELOAD if preload else ())
        return _shared[preload]


def run_cycle(
    files: Mapping[str, str],
    ctx: Mapping[str, Any],
    on_call: OnCall,
    limits: SandboxLimits | None = None,
    on_log: OnLog | None = None,
) -> CycleOutcome:
    """Run one cycle of the strategy made of `files` in this process's sandbox. See the package docs."""
    return shared_sandbox(preload=wants_preload(files)).run_cycle(files, ctx, on_call, limits, on_log)
