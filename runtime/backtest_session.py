"""The worker's side of a whole backtest in ONE sandboxed run, the step loop inside it (`backtest_child.py`).

The range's bars go into the run once, packed, with the spec; the run steps the strategy through the same
engine the worker has and hands back its per-step records (orders and their replies, signals, logs, state
changes, the reads it made) and a claim of its results. This side only collects them, within limits (the
run's wall clock, the size of what it sends, the CPU rlimit of `limits.cpu_seconds`): believing nothing,
it leaves the replay and the look-ahead check to trading.backtest.replay.

    with OneRunSession(files, ctx, limits, payload={"backtest": {...}}) as session:
        outcome = session.run(wall_seconds=3600, on_records=..., cancelled=...)
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.channel import encode_frame
from runtime.outcome import FAILED, SUCCEEDED, TIMED_OUT, LogLine
from runtime.protocol import Run as _Run
from runtime.protocol import RunStop as _Stop
from runtime.step_session import StepSession, _no_calls

OnRecords = Callable[[list[dict[str, Any]], int], None]
RECORDS_MAX_BYTES = 64 * 1024 * 1024  # what a run may send back in all: far above an honest run's records


@dataclass
class OneRunOutcome:
    status: str  # succeeded (the run ended and claimed its result) | failed | timed_out
    error: str | None
    records: list[dict[str, Any]]  # per step that did something: orders, signals, logs, state, reads
    claim: dict[str, Any] | None
    logs: list[LogLine] = field(default_factory=list)  # output outside any step's record
    duration_s: float = 0.0


class _WholeRun(_Run):
    def __init__(self, parent: _Run, on_records: OnRecords | None) -> None:
        super().__init__(parent.limits, _no_calls, parent.platform, set())
        self.ready = parent.ready
        self.records: list[dict[str, Any]] = []
        self.record_bytes = 0
        self.upto = 0
        self.claim: dict[str, Any] | None = None
        self.on_records = on_records

    def frame(self, message: dict[str, Any], channel: socket.socket, deadline: float) -> None:
        kind = message["type"]
        if kind == "log":
            super().frame(message, channel, deadline)
            return
        if self.claim is not None:
            raise _Stop(FAILED, "the sandbox kept talking after its claim")
        if kind == "steps":
            records, upto = message.get("records"), message.get("upto")
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise _Stop(FAILED, "protocol violation: malformed steps frame")
            if not isinstance(upto, int) or isinstance(upto, bool) or upto < self.upto:
                raise _Stop(FAILED, "protocol violation: a steps frame must say how far the run got")
            self.record_bytes += len(json.dumps(records, separators=(",", ":")))
            if self.record_bytes > RECORDS_MAX_BYTES:
                raise _Stop(FAILED, f"the run's records are over {RECORDS_MAX_BYTES // 2**20} MiB")
            self.records.extend(records)
            self.upto = upto
            if self.on_records is not None:
                self.on_records(records, upto)
        elif kind == "claim":
            self.claim = message
        elif kind == "call":
            raise _Stop(FAILED, "protocol violation: a whole-run backtest answers its reads itself")
        else:
            raise _Stop(FAILED, f"protocol violation: unknown frame type {str(kind)[:40]!r}")


class OneRunSession(StepSession):
    """A backtest's one sandboxed run with the whole loop inside. One `run()` per session."""

    mode = "backtest"

    def __enter__(self) -> OneRunSession:
        return self

    def run(self, *, wall_seconds: float, on_records: OnRecords | None = None,
            cancelled: Callable[[], bool] | None = None) -> OneRunOutcome:
        """Collect the run's records (each batch also handed to `on_records(records, upto)` as it comes, `upto`
        the number of steps done: the replay may follow while the run goes on) and its claim."""
        started = time.monotonic()
        ready = _Run(self.limits, _no_calls, self.platform, set())
        ready.ready = self.ready
        run = _WholeRun(ready, on_records)
        if self.warning:
            run.log("warning", self.warning)
        deadline = started + wall_seconds
        self._send(encode_frame({"type": "go"}), deadline)  # the run starts once "ready" is taken
        stopped: str | None = None
        while run.claim is None and self.dead is None:
            if cancelled is not None and cancelled():
                stopped = "cancelled"
                self._kill()
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._gone(_Stop(TIMED_OUT, f"the backtest run passed its wall-clock limit of {wall_seconds:.0f} s"))
                self._kill()
                break
            for key, _ in self.selector.select(min(remaining, 0.25)):
                self._readable(run, str(key.data), key.fd, deadline)
                if self.dead is not None:
                    break
        try:
            run.flush_pipes()
        except _Stop as stop:
            self._gone(stop)
        duration = time.monotonic() - started
        if stopped:
            return OneRunOutcome(FAILED, stopped, run.records, None, run.logs, duration)
        if run.claim is not None and self.dead is None:
            return OneRunOutcome(SUCCEEDED, None, run.records, run.claim, run.logs, duration)
        ended = self.dead or _Stop(FAILED, "the sandbox run gave no result")
        return OneRunOutcome(ended.status, ended.message, run.records, None, run.logs, duration)
