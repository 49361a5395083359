"""The zygote (the pre-forked runner inside bubblewrap), seen from the worker: start it, ask it to
spawn or kill a run, tear it down. The zygote's own side is ``runtime.zygote``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from runtime.layout import SANDBOX_ENV, bwrap_command, bwrap_layout, host_layout
from runtime.limits import SandboxLimits
from runtime.outcome import SandboxUnavailable

logger = logging.getLogger("runtime")

BOOT = (
    "import json, sys; c = json.loads(sys.argv[1]); sys.path[:0] = c['path_head']; sys.path += c['path_tail']; "
    "from runtime.zygote import main; main()"
)
HELLO_TIMEOUT = 20.0
KILL_GRACE = 2.0  # a killed run is reaped at once; past this the whole sandbox is torn down


class ZygoteProcess:
    """One zygote: its process (bubblewrap, or a plain child in weak mode), its control socket, its hello."""

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
            layout = host_layout(self._work_dir)
        else:
            layout = bwrap_layout(packages)
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
            command = [*bwrap_command(bwrap, layout, info_write, limits), "--", *command]
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

    def spawn(self, token: str, fds: list[int], *, session: bool = False) -> None:
        """Fork a run for `token` with its channel, stdout, stderr and status pipe; `session`: a warm
        session's process (runtime/warm_child.py), which may fork its cycles."""
        message = {"op": "spawn", "run": token, **({"session": True} if session else {})}
        with self._lock:
            socket.send_fds(self.control, [json.dumps(message).encode()], fds)

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
