"""What one cycle in the sandbox gives back, and the two errors of the worker's side.

Shared by the pool (``Sandbox``), the select loop and the protocol; re-exported by ``runtime``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

OnCall = Callable[[str, str, dict[str, Any]], Any]
# Called with the lines received since the last call (often none) at least every LIVE_INTERVAL
# seconds while a run lasts, and once after it ends: how a worker streams a long run's log.
OnLog = Callable[[list["LogLine"]], None]
LIVE_INTERVAL = 0.05

SUCCEEDED, FAILED, TIMED_OUT = "succeeded", "failed", "timed_out"


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
