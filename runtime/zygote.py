"""The pre-forked runner (zygote) and the run it forks, both inside the sandbox.

The zygote is started once per worker process (inside bubblewrap), imports the runtime and
the allowed libraries, tells the worker what this kernel offers (``hello``), and then only forks.
It never sees a strategy's code or data and holds no secrets. Its control socket (SOCK_SEQPACKET)
carries small JSON commands:

- ``{"op": "spawn", "run": token}`` with four descriptors (channel, stdout, stderr, status):
  fork one run; write ``{"pid": n}`` then, when it ends, ``{"exit": code, "cpu": seconds,
  "max_rss_kb": n}`` on that run's status pipe;
- ``{"op": "kill", "run": token}``: SIGKILL that run;
- end of file on the control socket: kill every run and exit.

The zygote keeps one run pre-forked (a "spare"): it closes every descriptor it inherited,
confines itself with Landlock and seccomp (harden.py) and waits. The zygote prepared both once:
the seccomp filter is compiled at start (a run writes its own pid into it), and before each fork
the zygote makes the run's scratch folder and a Landlock ruleset for it from read rules opened
at start; the run only enters them. ``spawn`` hands the spare its
three descriptors and forks the next spare while the cycle runs, so neither the fork nor the
confinement is on a cycle's critical path. The run then reads its ``spec`` from the channel,
applies the cycle's rlimits, reports ``ready`` with the layers applied, and only then compiles
and runs the user's code. ``print`` and ``sys.stderr`` become log frames; it sends one
``result`` frame and exits at once, so no thread it started outlives the cycle.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import re
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import traceback
from typing import Any

from runtime import forking, harden
from runtime.backtest_child import serve_backtest
from runtime.channel import BlockingChannel
from runtime.cycle import cycle_rehearse, run_cycle_in_process, user_traceback
from runtime.limits import SandboxLimits
from runtime.loader import StrategyLoadError, load_strategy
from runtime.sdk import VenueError
from runtime.step_child import serve_steps
from runtime.warm_child import serve_session

CHANNEL_FD = 3
HANDOFF_FD = 4  # a spare run waits for its cycle on this socket
RULESET_FD = 5  # and enters its Landlock ruleset from here
SPEC_MAX_BYTES = 64 * 1024 * 1024  # the spec comes from the trusted worker
TOKEN = re.compile(r"^[0-9a-f]{8,64}$")
_C_SIGNAL: Any = importlib.import_module("_signal")  # the C module under `signal`, which wraps it in enums
# Always imported: what the runtime itself needs before the filter is on, plus cheap stdlib favourites.
BASE_PRELOAD = ("asyncio", "ctypes", "datetime", "decimal", "json", "math", "random", "statistics", "re", "collections")


class ChannelTransport:
    """The SDK's Transport inside a run: every call is one frame out and one reply frame back."""

    def __init__(self, channel: BlockingChannel, max_log_chars: int) -> None:
        self.channel = channel
        self.max_log_chars = max_log_chars  # longer lines are cut: the worker stops the run at its output cap anyway
        self._next_id = 1
        self._lock = threading.Lock()  # user threads may call concurrently; frames must not interleave

    def call(self, venue: str, method: str, kwargs: dict[str, Any]) -> Any:
        with self._lock:
            call_id = self._next_id
            self._next_id += 1
            try:
                self.channel.send({"type": "call", "id": call_id, "venue": venue, "method": method, "kwargs": kwargs})
            except (TypeError, ValueError) as error:
                raise TypeError(f"ctx.{venue}.{method}() arguments must be JSON values: {error}") from None
            reply = self.channel.receive()
        if reply.get("type") != "reply" or reply.get("id") != call_id:
            raise VenueError("the worker answered out of order")
        if not reply.get("ok"):
            raise VenueError(str(reply.get("error") or "the call failed"))
        return reply.get("value")

    def log(self, level: str, message: str) -> None:
        with self._lock:
            self.channel.send({"type": "log", "level": level, "message": message[: self.max_log_chars]})


class LogStream:
    """sys.stdout / sys.stderr of a run: every complete line becomes a log frame."""

    def __init__(self, transport: ChannelTransport, level: str) -> None:
        self.transport, self.level = transport, level
        self._pending = ""
        self.encoding, self.errors = "utf-8", "replace"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self.transport.log(self.level, line)
        if len(self._pending) > self.transport.max_log_chars:  # a line that never ends is still output
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self.transport.log(self.level, line)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def _run(channel: BlockingChannel, report: harden.HardeningReport, base_address_space: int) -> None:
    """One cycle in a handed-off run: spec in, limits on, user code, result out."""
    spec = channel.receive()
    limits = SandboxLimits(**spec["limits"])
    try:
        harden.apply_rlimits(limits, base_address_space)
        report.rlimits = True
        harden.require(report, spec["required_layers"])
    except (harden.HardeningError, OSError, ValueError) as error:
        channel.send({"type": "refused", "error": str(error)})
        return
    channel.max_frame_bytes = int(limits.reply_kb) * 1024 + 1024  # from here on, replies only
    channel.send({"type": "ready", "layers": report.as_dict()})
    transport = ChannelTransport(channel, max_log_chars=int(limits.output_kb) * 1024 + 1)
    sys.stdout = LogStream(transport, "info")  # type: ignore[assignment,unused-ignore]
    sys.stderr = LogStream(transport, "warning")  # type: ignore[assignment,unused-ignore]
    if spec.get("mode") == "backtest":  # a whole backtest on bars: the step loop inside this one run
        def install_output(inner: Any) -> Any:
            sys.stdout = LogStream(inner, "info")  # type: ignore[assignment,unused-ignore]
            sys.stderr = LogStream(inner, "warning")  # type: ignore[assignment,unused-ignore]
            def flush() -> None:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()

            return flush

        serve_backtest(channel, spec, int(limits.state_kb) * 1024, int(limits.output_kb) * 1024 + 1, install_output)
        return
    if spec.get("mode") == "steps":  # a backtest: one long-lived run, one cycle per step frame
        def flush() -> None:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()

        serve_steps(channel, spec, transport, int(limits.state_kb) * 1024, flush)
        return
    serve_cycle(channel, transport, spec["files"], spec["ctx"], limits)


def _warm_cycle(channel: BlockingChannel, report: harden.HardeningReport, limits: SandboxLimits,
                required: list[str], files: dict[str, str], ctx: dict[str, Any]) -> None:
    """One cycle in the child a warm session forked for it (runtime/warm_child.py): from `ready` on, a run's."""
    try:
        harden.require(report, required)
    except harden.HardeningError as error:
        channel.send({"type": "refused", "error": str(error)})
        return
    channel.max_frame_bytes = int(limits.reply_kb) * 1024 + 1024
    channel.send({"type": "ready", "layers": report.as_dict()})
    transport = ChannelTransport(channel, max_log_chars=int(limits.output_kb) * 1024 + 1)
    sys.stdout = LogStream(transport, "info")  # type: ignore[assignment,unused-ignore]
    sys.stderr = LogStream(transport, "warning")  # type: ignore[assignment,unused-ignore]
    serve_cycle(channel, transport, files, ctx, limits)


def serve_cycle(channel: BlockingChannel, transport: ChannelTransport, files: dict[str, str], ctx: dict[str, Any],
                limits: SandboxLimits) -> None:
    """Load the strategy (its module bodies run here, each time anew) and run one cycle; one result frame."""
    result: dict[str, Any]
    try:
        definition = load_strategy(files)
    except StrategyLoadError as error:
        result = {"entries": [], "exits": [], "state": None, "error": str(error), "traceback": None}
    except BaseException as error:  # the module body of a user file raised
        names = frozenset(name for name in files if name.endswith(".py"))
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        result = {
            "entries": [],
            "exits": [],
            "state": None,
            "error": summary,
            "traceback": user_traceback(error, names),
        }
    else:
        result = run_cycle_in_process(definition, ctx, transport, state_bytes_limit=int(limits.state_kb) * 1024)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    channel.send({"type": "result", **result})


def _spare(handoff: socket.socket, zygote_pid: int, scratch: str, confinement: harden.Confinement, ruleset: int,
           failure: str, base_address_space: int, *, session: bool = False) -> None:
    """A pre-forked run: confine itself, wait to be handed a cycle, run it. Never sees the zygote's socket.
    `ruleset` is the Landlock ruleset the zygote made for this run (its scratch folder writable), or -1;
    `base_address_space` the bytes mapped at the fork (the zygote's, which this run's are)."""
    harden.die_with_parent(signal.SIGKILL)
    if os.getppid() != zygote_pid:
        return
    os.setsid()
    signal.set_wakeup_fd(-1)
    # The C function itself: `signal.signal` would turn the zygote's handler it returns into an enum, and
    # failing that (it is a function) raise and catch a ValueError, a tenth of a millisecond in every run.
    _C_SIGNAL.signal(_C_SIGNAL.SIGCHLD, _C_SIGNAL.SIG_DFL)
    # Lift both descriptors above the numbers they move to, so neither lands on the other.
    os.dup2(fcntl.fcntl(handoff.detach(), fcntl.F_DUPFD_CLOEXEC, 10), HANDOFF_FD)
    if ruleset >= 0:
        os.dup2(fcntl.fcntl(ruleset, fcntl.F_DUPFD_CLOEXEC, 10), RULESET_FD)
    os.closerange(CHANNEL_FD, HANDOFF_FD)  # the zygote's control socket and other runs' descriptors
    os.closerange(RULESET_FD + 1 if ruleset >= 0 else RULESET_FD, 65536)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(scratch)
    os.environ["HOME"] = os.environ["TMPDIR"] = scratch  # not `update`: its ABC checks ran anew in every run
    tempfile.tempdir = scratch
    report = confinement.apply(RULESET_FD if ruleset >= 0 else -1, failure, session=session)
    control = socket.socket(fileno=HANDOFF_FD)
    data, fds, _, _ = socket.recv_fds(control, 256, 3)
    if not data or len(fds) != 3:
        return  # the zygote retired this spare
    control.close()
    # Received descriptors may sit on the very numbers they must move to: lift them out of the way first.
    lifted = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds]
    for fd in fds:
        os.close(fd)
    for fd, target in zip(lifted, (CHANNEL_FD, 1, 2), strict=True):
        os.dup2(fd, target)
        os.close(fd)
    if session:
        serve_session(BlockingChannel(CHANNEL_FD, SPEC_MAX_BYTES), report, base_address_space, confinement, scratch,
                      _warm_cycle)
    else:
        _run(BlockingChannel(CHANNEL_FD, SPEC_MAX_BYTES), report, base_address_space)
    # End of file on all three tells the worker the cycle is over now, before the slow teardown
    # of this address space; it then has the zygote SIGKILL whatever is left of the run.
    os.closerange(0, HANDOFF_FD)


def _preload(modules: list[str]) -> tuple[list[str], dict[str, str]]:
    loaded, failed = [], {}
    for name in [*BASE_PRELOAD, *modules]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as error:  # a missing optional library must not stop the zygote
            failed[name] = f"{type(error).__name__}: {error}"
    return loaded, failed


class Zygote:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.control = socket.socket(fileno=int(config["control_fd"]))
        self.runs: dict[int, tuple[str, int]] = {}  # pid -> (token, status fd)
        self.spare: tuple[int, socket.socket] | None = None
        self.scratch: dict[int, str] = {}  # pid -> the run's scratch folder, removed when it is reaped
        self.forked = 0
        self.huge_bytes = 0  # of the preloaded heap, in 2 MiB pages (`harden.collapse_heap`)
        self.pid = os.getpid()
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_read = wake_read
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(wake_write)  # SIGCHLD wakes the select loop
        os.makedirs(config["scratch_root"], mode=0o700, exist_ok=True)
        self.confinement = harden.Confinement(config["read_paths"])  # once: each run only applies it

    def hello(self, loaded: list[str], failed: dict[str, str]) -> None:
        message = {
            "type": "hello",
            "landlock_abi": harden.landlock_abi(),
            "seccomp": harden.seccomp_supported(),
            "preloaded": loaded,
            "preload_failed": failed,
            "python": sys.version.split()[0],
            "huge_pages_kb": self.huge_bytes >> 10,
        }
        self.control.send(json.dumps(message).encode())

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        self.fork_spare()
        while True:
            for key, _ in selector.select():
                if key.data == "wake":
                    while True:
                        try:
                            if not os.read(self.wake_read, 512):
                                break
                        except BlockingIOError:
                            break
                    self.reap()
                elif not self.command():
                    self.shutdown()
                    return

    def command(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.control, 4096, 8)
        except InterruptedError:
            return True
        if not data:
            return False
        try:
            message = json.loads(data)
            op, token = message["op"], str(message["run"])
        except (ValueError, KeyError, TypeError):
            message, op, token = {}, "", ""
        if op == "spawn" and len(fds) == 4 and TOKEN.match(token):
            self.spawn(token, fds, session=message.get("session") is True)
            return True
        for fd in fds:
            os.close(fd)
        if op == "kill":
            for pid, (run_token, _) in list(self.runs.items()):
                if run_token == token:
                    self._kill(pid)
        return True

    def fork_spare(self) -> None:
        self.spare = self._fork_run(session=False)

    def _fork_run(self, *, session: bool) -> tuple[int, socket.socket]:
        """A confined run waiting for its descriptors; `session`: a warm session's process (may fork)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.forked += 1
        scratch = os.path.join(self.config["scratch_root"], f"run-{self.forked}")
        os.mkdir(scratch, 0o700)
        ruleset, failure = self.confinement.prepare([scratch, "/dev/null"])
        base_address_space = harden.address_space_bytes()  # the run's at the fork; /proc is closed once confined
        pid = forking.fork()  # libc's, without CPython's after-fork handlers (runtime/forking.py)
        if pid == 0:
            code = 70  # the worker reports a run that died in the runtime by this exit code
            try:
                mine.close()
                _spare(theirs, self.pid, scratch, self.confinement, ruleset, failure, base_address_space,
                       session=session)
                code = 0
            except BaseException:
                traceback.print_exc()  # to the zygote's stderr (the worker's diagnostics) or the run's log
            finally:
                os._exit(code)
        theirs.close()
        if ruleset >= 0:
            os.close(ruleset)
        self.scratch[pid] = scratch
        return pid, mine

    def spawn(self, token: str, fds: list[int], *, session: bool = False) -> None:
        status_fd = fds[3]
        for _ in range(2):  # a spare that died while waiting is replaced once
            if session:  # forked on demand: a session starts once per many cycles
                pid, handoff = self._fork_run(session=True)
            else:
                if self.spare is None:
                    self.fork_spare()
                assert self.spare is not None
                pid, handoff = self.spare
                self.spare = None
            try:
                socket.send_fds(handoff, [token.encode()], fds[:3])
            except OSError:
                handoff.close()
                continue
            handoff.close()
            self.runs[pid] = (token, status_fd)
            self._status(status_fd, {"pid": pid})
            break
        else:
            self._status(status_fd, {"exit": 70, "cpu": 0})
            os.close(status_fd)
        for fd in fds[:3]:
            os.close(fd)
        if self.spare is None:
            self.fork_spare()  # the next cycle's run, forked while this one works

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and self.spare[0] == pid:
                self.spare[1].close()
                self.spare = None
            _token, status_fd = self.runs.pop(pid, ("", -1))
            if status_fd >= 0:
                cpu = usage.ru_utime + usage.ru_stime
                self._status(status_fd, {"exit": os.waitstatus_to_exitcode(status), "cpu": round(cpu, 3),
                                         "max_rss_kb": usage.ru_maxrss})  # the kernel's, not the run's word
                os.close(status_fd)
            scratch = self.scratch.pop(pid, "")
            if scratch:
                try:
                    os.rmdir(scratch)  # most runs leave their folder empty
                except OSError:
                    shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _status(fd: int, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the worker gave up on this run; nothing to tell
            os.write(fd, json.dumps(message).encode() + b"\n")

    @staticmethod
    def _kill(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def shutdown(self) -> None:
        for pid in [*self.runs, *([self.spare[0]] if self.spare else [])]:
            self._kill(pid)


def main() -> None:
    config = json.loads(sys.argv[1])
    loaded, failed = _preload(list(config.get("preload", [])))
    zygote = Zygote(config)
    # One cycle of the runtime's own do-nothing strategy (never a user's), as a warm session does before it forks:
    # what a cycle sets up on first use (method caches, lazy imports, encoders) is then set up once, here, and every
    # run shares it instead of building it in pages of its own.
    cycle_rehearse()
    gc.collect()
    gc.freeze()  # keep the preloaded heap out of the collector so forked runs share its pages
    zygote.huge_bytes = harden.collapse_heap()  # each fork copies, and each run's exit tears down, its page tables
    zygote.hello(loaded, failed)
    zygote.serve()
    os._exit(0)
