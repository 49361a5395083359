"""The select loop of one run: its frames, its output pipes, the zygote's status pipe, the deadlines,
and the verdict when it is over.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import time
from collections.abc import Mapping
from typing import Any, Protocol

from runtime.channel import FrameDecoder, ProtocolError
from runtime.limits import SandboxLimits
from runtime.outcome import FAILED, LIVE_INTERVAL, SUCCEEDED, TIMED_OUT
from runtime.protocol import Run, RunStop, status_messages
from runtime.zygote_client import KILL_GRACE

EXIT_GRACE = 0.5  # a run that sent its result exits at once; past this it is killed


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


class RunKiller(Protocol):
    """Who ends a run: the zygote (a cold run), or a warm session for the cycle it forked (runtime/warm.py)."""

    def kill(self, token: str) -> None: ...

    def destroy(self) -> None: ...


class RunSession:
    """The select loop of one run: frames, output pipes, the zygote's status pipe, the deadlines."""

    def __init__(
        self,
        run: Run,
        zygote: RunKiller,
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
        # poll, not epoll: four descriptors for one run, and no epoll instance to create, fill and close per run
        self.selector = selectors.PollSelector()
        self.selector.register(channel, selectors.EVENT_READ, "channel")
        for name, fd in pipes.items():
            self.selector.register(fd, selectors.EVENT_READ, name)
        self.open = {"channel", *pipes}
        self.status_buffer = b""
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.exited = False
        self.cpu = 0.0
        self.stop: RunStop | None = None
        self.kill_at: float | None = None  # when to kill the run if it has not exited
        self.destroy_at: float | None = None  # when to tear down the zygote if the killed run is still there

    def send_spec(self, frame: bytes) -> None:
        self.channel.settimeout(max(0.001, self.deadline - time.monotonic()))
        try:
            self.channel.sendall(frame)
        except OSError:
            self._end(RunStop(TIMED_OUT, "the sandbox did not take the run in time"), kill=True)

    def _end(self, stop: RunStop | None, *, kill: bool) -> None:
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
                    self.stop = RunStop(FAILED, "the sandbox stopped answering and was torn down")
                return
            if self.kill_at is not None and now >= self.kill_at:
                self.kill_at = None
                self._kill(now)
            if now >= self.deadline and self.run.result is None and self.stop is None:
                self._end(RunStop(TIMED_OUT, f"wall-clock limit of {self.limits.wall_seconds} s exceeded"), kill=True)
            wake = [t for t in (self.deadline, self.kill_at, self.destroy_at) if t is not None and t > now]
            timeout = max(0.0, min(wake) - now) if wake else 0.05
            if self.run.on_log is not None:
                timeout = min(timeout, LIVE_INTERVAL)
            for key, _ in self.selector.select(timeout):
                self._readable(str(key.data), key.fd)
            self.run.deliver()
        self.ended()

    def ended(self) -> None:
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
            self._end(RunStop(FAILED, f"protocol violation: {error}"), kill=True)
        except RunStop as stop:
            self._end(stop, kill=True)

    def _status(self, data: bytes) -> None:
        messages, self.status_buffer = status_messages(self.status_buffer + data)
        for message in messages:
            self._status_message(message)

    def _status_message(self, message: dict[str, Any]) -> None:
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
        except RunStop as stop:
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
