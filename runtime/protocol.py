"""The worker's side of one run's frames: logs and output within their budget, venue calls checked
against the allow-list and the per-cycle quotas, the result re-validated (the sandbox's code ran
beside the user's). The framing itself is ``runtime.channel``.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime
from typing import Any

from runtime.channel import encode_frame
from runtime.cycle import state_error
from runtime.limits import SandboxLimits
from runtime.outcome import (
    FAILED,
    TIMED_OUT,
    LogLine,
    OnCall,
    OnLog,
    SandboxUnavailable,
    VenueCallError,
    json_default,
)
from runtime.sdk import LOG_LEVELS, VENUE_METHODS, EntrySignal, ExitSignal, SignalError

logger = logging.getLogger("runtime")

TEXT_CAP = 64 * 1024  # error and traceback texts kept from a run


def status_messages(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The complete JSON lines of the zygote's status pipe (pid, exit code, CPU), and the unfinished rest."""
    *lines, rest = buffer.split(b"\n")
    messages: list[dict[str, Any]] = []
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages, rest


class RunStop(Exception):
    """Ends a run early: a limit was hit or the sandbox broke the protocol."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Run:
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
            raise RunStop(FAILED, f"the strategy wrote more than {self.limits.output_kb} KiB of logs and output")
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
            raise RunStop(FAILED, "the sandbox kept talking after its result")
        if self.ready is None:
            if kind == "refused":
                raise SandboxUnavailable(f"the sandbox refused to run the strategy: {message.get('error')}")
            if kind != "ready" or not isinstance(message.get("layers"), dict):
                raise RunStop(FAILED, f"protocol violation: expected ready, got {kind!r}")
            missing = [layer for layer in self.required if not message["layers"].get(layer)]
            if missing:
                raise SandboxUnavailable(f"the run could not apply required layers: {', '.join(missing)}")
            self.ready = message["layers"]
            return
        if kind == "log":
            level, text = message.get("level"), message.get("message")
            if level not in LOG_LEVELS or not isinstance(text, str):
                raise RunStop(FAILED, "protocol violation: malformed log frame")
            self.log(str(level), text)
        elif kind == "call":
            self.call(message, channel, deadline)
        elif kind == "result":
            self.result = self._checked_result(message)
        else:
            raise RunStop(FAILED, f"protocol violation: unknown frame type {kind[:40]!r}")

    def call(self, message: dict[str, Any], channel: socket.socket, deadline: float) -> None:
        call_id, venue, method, kwargs = (message.get(k) for k in ("id", "venue", "method", "kwargs"))
        if not isinstance(call_id, int) or not isinstance(venue, str) or not isinstance(method, str):
            raise RunStop(FAILED, "protocol violation: malformed call frame")
        if not isinstance(kwargs, dict):
            raise RunStop(FAILED, "protocol violation: call arguments must be an object")
        self.calls += 1
        if self.calls > int(self.limits.calls_per_cycle):
            raise RunStop(FAILED, f"the strategy made more than {self.limits.calls_per_cycle} venue calls in one cycle")
        reply: dict[str, Any]
        if method not in VENUE_METHODS.get(venue, {}):
            reply = _refusal(call_id, f"unknown venue method {venue}.{method}"[:200])
        else:
            reply = self._answer(call_id, venue, method, kwargs)
        channel.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            channel.sendall(encode_frame(reply))
        except TimeoutError:
            raise RunStop(TIMED_OUT, "the strategy stopped reading replies and ran out of time") from None
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
            raise RunStop(FAILED, "protocol violation: result without entries and exits lists")
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
            raise RunStop(FAILED, f"the sandbox returned an invalid signal: {problem}") from None
        except (ValueError, ArithmeticError) as problem:  # a number no float holds, e.g. a forged size of 10**400
            raise RunStop(FAILED, f"the sandbox returned an invalid signal: {type(problem).__name__}: {problem}"
                          ) from None
        if not (error is None or isinstance(error, str)) or not (trace is None or isinstance(trace, str)):
            raise RunStop(FAILED, "protocol violation: error and traceback must be text")
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
