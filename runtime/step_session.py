"""The worker's side of a backtest's run in the sandbox: ONE sandboxed process for the whole run.

A cycle forks a fresh run per cycle; a backtest of thousands of steps cannot pay that per step, so
`StepSession` spawns one run from the zygote (same isolation: bubblewrap, Landlock, seccomp,
rlimits) in "steps" mode and then exchanges one step frame and one result frame per step
(`step_child.py` is the other end). Every limit of a cycle holds per step — venue calls, output,
reply sizes, the wall clock (`limits.wall_seconds` per step) — and the run's CPU rlimit
(`limits.cpu_seconds`) bounds the whole backtest. Every result is re-validated here exactly as a
cycle's (`_Run._checked_result`); the script only ever proposes signals and state: fills, positions
and P&L stay in the worker.

    with StepSession(files, ctx, limits) as session:
        outcome = session.step({"now": ..., "positions": [...], "capital": {...}, "state": {...}}, on_call)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import selectors
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.channel import FrameDecoder, ProtocolError, encode_frame, encode_json, frame_bytes, wait_ready
from runtime.limits import SandboxLimits
from runtime.outcome import (
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    LogLine,
    OnCall,
    SandboxUnavailable,
    VenueCallError,
    json_default,
)
from runtime.pool import Sandbox, _platform
from runtime.protocol import Run as _Run
from runtime.protocol import RunStop as _Stop
from runtime.protocol import status_messages
from runtime.sandbox import shared_sandbox, wants_preload
from runtime.sdk import VENUE_METHODS
from runtime.session import _describe_exit
from runtime.step_child import BAR_KEYS
from runtime.zygote_client import KILL_GRACE, ZygoteProcess

logger = logging.getLogger("runtime")
BARS_PER_FRAME = 2000  # newly closed bars go in frames well under the run's 1 MiB frame cap


@dataclass(frozen=True)
class StepResult:
    status: str  # succeeded | failed | timed_out
    entries: list[dict[str, Any]]
    exits: list[dict[str, Any]]
    state: dict[str, Any]
    error: str | None
    traceback: str | None
    logs: list[LogLine] = field(default_factory=list)
    calls: int = 0
    duration_ms: float = 0.0
    orders: list[list[Any]] = field(default_factory=list)  # answered in the run from the desk sent with the step


def _answered_orders(message: dict[str, Any], limit: int) -> list[list[Any]]:
    orders = message.get("orders", [])
    if not isinstance(orders, list) or len(orders) > limit or not all(
            isinstance(o, list) and len(o) == 4 and isinstance(o[0], str) and isinstance(o[1], str)
            and isinstance(o[2], dict) and isinstance(o[3], dict) for o in orders):
        raise _Stop(FAILED, f"a step's orders answered in the run must be at most {limit} (its venue calls count "
                            "too) [venue, method, arguments, reply]")
    return orders


class _StepRun(_Run):
    """One step's bookkeeping; replies are encoded once (a step may read the same bars every time)."""

    def _checked_result(self, message: dict[str, Any]) -> dict[str, Any]:
        orders = _answered_orders(message, int(self.limits.calls_per_cycle) - self.calls)  # one limit for both
        return {**super()._checked_result(message), "orders": orders}

    def call(self, message: dict[str, Any], channel: socket.socket, deadline: float) -> None:
        call_id, venue, method, kwargs = (message.get(k) for k in ("id", "venue", "method", "kwargs"))
        if not isinstance(call_id, int) or not isinstance(venue, str) or not isinstance(method, str):
            raise _Stop(FAILED, "protocol violation: malformed call frame")
        if not isinstance(kwargs, dict):
            raise _Stop(FAILED, "protocol violation: call arguments must be an object")
        self.calls += 1
        if self.calls > int(self.limits.calls_per_cycle):
            raise _Stop(FAILED, f"the strategy made more than {self.limits.calls_per_cycle} venue calls in one step")
        frame: bytes
        if method not in VENUE_METHODS.get(venue, {}):
            frame = encode_frame({"type": "reply", "id": call_id, "ok": False,
                                  "error": f"unknown venue method {venue}.{method}"[:200]})
        else:
            frame = self._reply_frame(call_id, venue, method, kwargs)
        if not send_frame(channel, frame, deadline):
            raise _Stop(TIMED_OUT, "the strategy stopped reading replies and ran out of time")

    def _reply_frame(self, call_id: int, venue: str, method: str, kwargs: dict[str, Any]) -> bytes:
        def refusal(text: str) -> bytes:
            return encode_frame({"type": "reply", "id": call_id, "ok": False, "error": text})

        try:
            value = self.on_call(venue, method, kwargs)
            encoded = json.dumps(value, allow_nan=False, default=json_default, separators=(",", ":"),
                                 ensure_ascii=False).encode()
        except VenueCallError as error:
            return refusal(str(error)[:1000])
        except Exception as error:
            logger.exception("backtest call %s.%s failed", venue, method)
            return refusal(f"{venue}.{method} failed ({type(error).__name__})")
        if len(encoded) > int(self.limits.reply_kb) * 1024:
            return refusal(f"reply of {len(encoded) // 1024} KiB is over the {self.limits.reply_kb} KiB limit")
        self.reply_bytes += len(encoded)
        if self.reply_bytes > int(self.limits.replies_total_kb) * 1024:
            return refusal(f"replies of this step are over the {self.limits.replies_total_kb} KiB limit")
        return frame_bytes(b'{"type":"reply","id":%d,"ok":true,"value":' % call_id + encoded + b"}")


class StepSession:
    """A backtest's one sandboxed run. Not thread-safe: one step at a time, from one thread."""

    mode = "steps"  # what the run serves (runtime/zygote.py `_run`); a whole backtest is "backtest"

    def __init__(self, files: Mapping[str, str], ctx: Mapping[str, Any], limits: SandboxLimits,
                 sandbox: Sandbox | None = None, payload: Mapping[str, Any] | None = None) -> None:
        self.files = dict(files)
        self.limits = limits
        self.sandbox = sandbox or shared_sandbox(preload=wants_preload(files))
        self.platform = _platform(files, ctx)
        self.zygote: ZygoteProcess = self.sandbox._acquire(limits)
        self.closed = False
        self.ended = False  # told to stop (`end`); `close` also waits for its exit and releases the zygote
        self.dead: _Stop | None = None  # once the run is gone, every later step fails with this
        self.exit_code: int | None = None
        self.cpu = 0.0
        self.max_rss_kb: int | None = None  # the run's peak resident memory, as the zygote reaped it
        self.pid: int | None = None
        self.steps = 0
        missing = self.sandbox._missing_layers(self.zygote)
        self.weak = bool(missing)
        self.warning = (f"SANDBOX WEAK MODE (development only): running without {', '.join(missing)}"
                        if missing else None)
        self.ready: dict[str, Any] | None = None
        self.token = secrets.token_hex(16)
        self.channel, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pipes = {name: os.pipe() for name in ("stdout", "stderr", "status")}
        try:
            self.zygote.spawn(self.token, [child.fileno(), pipes["stdout"][1], pipes["stderr"][1],
                                           pipes["status"][1]])
        except OSError as broken:
            self.zygote.destroy()
            self.sandbox._release(self.zygote)
            raise SandboxUnavailable(f"the sandbox zygote is gone: {broken}") from broken
        finally:
            child.close()
            for _, write_end in pipes.values():
                os.close(write_end)
        self.pipes = {name: read_end for name, (read_end, _) in pipes.items()}
        self.channel.setblocking(False)  # sends go through send_frame, reads follow the selector
        self.decoder = FrameDecoder(int(limits.frame_kb) * 1024)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.channel, selectors.EVENT_READ, "channel")
        for name, fd in self.pipes.items():
            self.selector.register(fd, selectors.EVENT_READ, name)
        self.status_buffer = b""
        self.required = [layer for layer in ("rlimits", "landlock", "seccomp") if layer not in missing]
        spec = {"type": "spec", "mode": self.mode, "limits": limits.as_dict(), "files": self.files,
                "ctx": dict(ctx), "required_layers": self.required, **(payload or {})}
        try:
            self._send(encode_frame(spec, default=json_default), time.monotonic() + float(limits.wall_seconds))
            self._await_ready(time.monotonic() + float(limits.wall_seconds))
        except BaseException:
            self.close()
            raise

    # -- plumbing --

    def _send(self, frame: bytes, deadline: float) -> None:
        try:
            sent = send_frame(self.channel, frame, deadline)
        except OSError:
            sent = False
        if not sent:
            self._gone(_Stop(FAILED, "the sandbox run stopped taking steps"))

    def _gone(self, stop: _Stop) -> None:
        if self.dead is None:
            self.dead = stop

    def _pump(self, run: _Run, deadline: float, until: Any) -> None:
        """Read frames and output until `until()` holds, the deadline passes or the run dies."""
        while not until() and self.dead is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._gone(_Stop(TIMED_OUT, f"wall-clock limit of {self.limits.wall_seconds} s per step exceeded"))
                self._kill()
                return
            for key, _ in self.selector.select(min(remaining, 0.25)):
                self._readable(run, str(key.data), key.fd, deadline)
                if self.dead is not None:
                    return

    def _readable(self, run: _Run, name: str, fd: int, deadline: float) -> None:
        try:
            data = self.channel.recv(1 << 16) if name == "channel" else os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if name == "status":
            self._status(data)
            return
        if not data:
            self.selector.unregister(fd)
            if name == "channel":
                self._await_exit()
                status, message = _describe_exit(self.exit_code, self.cpu, self.limits)
                self._gone(_Stop(status, message))
            return
        try:
            if name == "channel":
                for frame in self.decoder.feed(data):
                    if frame.get("type") == "result" and frame.get("step") != self.steps:
                        raise _Stop(FAILED, "protocol violation: a result for another step")
                    run.frame(frame, self.channel, deadline)
            else:
                run.pipe(name, data)
        except ProtocolError as error:
            self._gone(_Stop(FAILED, f"protocol violation: {error}"))
            self._kill()
        except _Stop as stop:
            self._gone(stop)
            self._kill()

    def _status(self, data: bytes) -> None:
        if not data:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.pipes["status"])
            return
        messages, self.status_buffer = status_messages(self.status_buffer + data)
        for message in messages:
            if "pid" in message:
                self.pid = int(message["pid"])
            if "exit" in message:
                self.exit_code, self.cpu = int(message["exit"]), float(message.get("cpu") or 0.0)
                if isinstance(message.get("max_rss_kb"), int):
                    self.max_rss_kb = message["max_rss_kb"]

    def _await_exit(self, within: float = KILL_GRACE) -> None:
        deadline = time.monotonic() + within
        fd = self.pipes["status"]
        try:
            os.set_blocking(fd, False)
        except OSError:
            return
        while self.exit_code is None and time.monotonic() < deadline:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:  # the zygote has not reported the exit yet: wait for its line, not a fixed sleep
                wait_ready(fd, deadline - time.monotonic())
                continue
            except OSError:
                return
            if not data:
                return
            self._status(data)

    def _kill(self) -> None:
        self.zygote.kill(self.token)

    def _await_ready(self, deadline: float) -> None:
        run = _StepRun(self.limits, _no_calls, self.platform, set())
        run.required = self.required
        self._pump(run, deadline, lambda: run.ready is not None)
        if self.dead is not None:
            raise SandboxUnavailable(f"the backtest's sandbox run did not start: {self.dead.message}")
        self.ready = run.ready

    # -- the public door --

    def step(self, ctx: Mapping[str, Any], on_call: OnCall) -> StepResult:
        """One cycle of the strategy at `ctx["now"]`; its venue calls go to `on_call`."""
        started = time.monotonic()
        previous_state = dict(ctx.get("state") or {})
        self.steps += 1
        run = _StepRun(self.limits, on_call, self.platform,
                       {str(p["position_id"]) for p in ctx.get("positions") or []})
        run.ready = self.ready
        if self.warning and self.steps == 1:
            run.log("warning", self.warning)
        if self.dead is None:
            deadline = started + float(self.limits.wall_seconds)
            frame = dict(ctx)
            desk = frame.pop("desk", None)
            for chunk in _bar_frames(frame.pop("bars", None) or {}, self.steps, frame, desk):
                self._send(chunk, deadline)
            self._pump(run, deadline, lambda: run.result is not None)
        try:
            run.flush_pipes()
        except _Stop as stop:
            self._gone(stop)
        duration = round((time.monotonic() - started) * 1000, 3)
        result = run.result
        if result is not None:
            state = result["state"] if result["state"] is not None else previous_state
            return StepResult(FAILED if result["error"] else SUCCEEDED, result["entries"], result["exits"], state,
                              result["error"], result["traceback"], run.logs, run.calls, duration, result["orders"])
        ended = self.dead or _Stop(FAILED, "the sandbox run gave no result")
        return StepResult(ended.status, [], [], previous_state, ended.message, None, run.logs, run.calls, duration)

    def end(self) -> None:
        """Stop the run without waiting for its exit (`close` waits): the worker has other work meanwhile."""
        if self.ended:
            return
        self.ended = True
        with contextlib.suppress(OSError):
            if self.dead is None:
                send_frame(self.channel, encode_frame({"type": "end"}), time.monotonic() + 0.1)
        self._kill()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.end()
        self._await_exit()
        self.selector.close()
        self.channel.close()
        for fd in self.pipes.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.sandbox._release(self.zygote)

    def __enter__(self) -> StepSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bar_frames(closed: Mapping[str, Mapping[str, Any]], step: int, ctx: dict[str, Any],
                desk: dict[str, Any] | None) -> list[bytes]:
    """A step's frames: its newly closed bars (`BacktestEngine.closed_bars`), then the step. A step's few new bars
    ride in the step's own frame (one wake-up a step); more go ahead in "bars" frames of up to BARS_PER_FRAME."""
    frames: list[bytes] = []
    riding: list[str] = []  # each chunk's JSON
    room = BARS_PER_FRAME
    for symbol, fresh in closed.items():
        count = len(fresh["bars"])
        for at in range(0, count, BARS_PER_FRAME):
            chunk = _bar_columns_json(symbol, fresh, at, at + BARS_PER_FRAME)
            size = min(count, at + BARS_PER_FRAME) - at
            if at + BARS_PER_FRAME >= count and size <= room:  # a symbol's last chunk
                riding.append(chunk)
                room -= size
            else:
                frames.append(_frame_of('{"type":"bars",' + chunk[1:]))
    # The step's JSON as encode_frame gives it for {"type", "step", "ctx", "bars", "desk"}, the chunks spliced in.
    text = _json({"type": "step", "step": step, "ctx": ctx})[:-1]
    if riding:
        text += ',"bars":[' + ",".join(riding) + "]"
    if desk is not None:
        text += ',"desk":' + _json(desk)
    frames.append(_frame_of(text + "}"))
    return frames


def _json(value: Any) -> str:
    """As encode_frame(..., default=json_default) encodes `value`."""
    return encode_json(value, json_default)


def _frame_of(text: str) -> bytes:
    return frame_bytes(text.encode())


def _bar_columns_json(symbol: str, fresh: Mapping[str, Any], lo: int, hi: int) -> str:
    """`_bar_columns` as JSON; from the bars' own JSON texts (`fresh["json"]`) when the engine gave them: each
    value is encoded once per series, not again in every step's frame."""
    texts = fresh.get("json")
    if texts is None:
        return _json(_bar_columns(symbol, fresh, lo, hi))
    columns = ",".join(f'"{key}":[' + ",".join(texts[key][lo:hi]) + "]" for key in ("s", *BAR_KEYS))
    return '{"symbol":' + _json(symbol) + ',"period":' + _json(fresh["period"]) + "," + columns + "}"


def _bar_columns(symbol: str, fresh: Mapping[str, Any], lo: int, hi: int) -> dict[str, Any]:
    """Bars lo..hi of a symbol's newly closed ones as columns: their starts (the engine's own floats: the run
    parses no time), then the `t`, `o`, `h`, `l`, `c`, `v` texts of Alpaca's shape. A third smaller than a dict
    per bar, and the run keeps them without a per-bar parse."""
    bars = fresh["bars"][lo:hi]
    return {"symbol": symbol, "period": fresh["period"], "s": list(fresh["starts"][lo:hi]),
            **{key: [bar[key] for bar in bars] for key in BAR_KEYS}}


def send_frame(channel: socket.socket, frame: bytes, deadline: float) -> bool:
    """Send a whole frame on the non-blocking channel by `deadline`; False if the other side stopped reading.

    Most frames go out in one send() with no extra system call; only a full socket buffer waits.
    """
    view = memoryview(frame)
    while view:
        try:
            view = view[channel.send(view):]
            continue
        except BlockingIOError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait_ready(channel, remaining, write=True)
    return True


def _no_calls(venue: str, method: str, kwargs: dict[str, Any]) -> Any:
    raise VenueCallError("no venue calls before the first step")
