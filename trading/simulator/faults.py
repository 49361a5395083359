"""Misbehaviour the simulator can be told to show, so adapters' fault handling can be tested."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "latency", "timeout", "malformed", "disconnect"]
FaultPhase = Literal["before", "after"]
FAULT_KINDS: tuple[str, ...] = ("status", "latency", "timeout", "malformed", "disconnect")


@dataclass
class Fault:
    """One rule: requests matching venue/method/path get this misbehaviour.

    `count` limits how many requests it hits (None: until cleared); `probability` makes it random
    (seeded, so a run is reproducible). `phase="after"` lets the venue process the request first —
    an order is then really placed although the client sees a timeout (an "unknown outcome").
    """

    kind: FaultKind
    venue: str | None = None
    method: str | None = None
    path_contains: str | None = None
    status: int = 500
    message: str = "Internal server error"
    retry_after: str | None = None
    delay_seconds: float = 0.0
    count: int | None = None
    probability: float = 1.0
    phase: FaultPhase = "before"
    hits: int = 0

    def matches(self, venue: str, method: str, path: str) -> bool:
        return (
            (self.venue is None or self.venue == venue)
            and (self.method is None or self.method.upper() == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.count is None or self.hits < self.count)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "venue": self.venue,
            "method": self.method,
            "path_contains": self.path_contains,
            "status": self.status,
            "message": self.message,
            "retry_after": self.retry_after,
            "delay_seconds": self.delay_seconds,
            "count": self.count,
            "probability": self.probability,
            "phase": self.phase,
            "hits": self.hits,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        kind = str(data.get("kind", "status"))
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        phase = str(data.get("phase", "before"))
        if phase not in ("before", "after"):
            raise ValueError(f"phase must be 'before' or 'after', got {phase!r}")
        count = data.get("count")
        retry_after = data.get("retry_after")
        return cls(
            kind=kind,  # type: ignore[arg-type]  # checked against FAULT_KINDS above
            venue=data.get("venue"),
            method=data.get("method"),
            path_contains=data.get("path_contains"),
            status=int(data.get("status", 500)),
            message=str(data.get("message", "Internal server error")),
            retry_after=None if retry_after is None else str(retry_after),
            delay_seconds=float(data.get("delay_seconds", 0.0)),
            count=None if count is None else int(count),
            probability=float(data.get("probability", 1.0)),
            phase=phase,  # type: ignore[arg-type]  # checked above
        )


@dataclass
class FaultPlan:
    """The active fault rules, shared by all request threads."""

    seed: int = 7
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible fault injection

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def inject(self, kind: FaultKind, **options: Any) -> Fault:
        return self.add(Fault(kind=kind, **options))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def pick(self, venue: str, method: str, path: str, phase: FaultPhase) -> Fault | None:
        """The first rule that fires for this request, counting the hit."""
        if not self.faults:  # fast path: no lock when nothing is configured
            return None
        with self._lock:
            for fault in self.faults:
                if fault.phase != phase or not fault.matches(venue, method, path):
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault.hits += 1
                return fault
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self.faults]
