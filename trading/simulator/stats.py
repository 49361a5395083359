"""Order counts per venue: what tests and the benchmark ask the simulator ("it counts orders")."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

OUTCOMES = ("received", "accepted", "rejected", "duplicate", "canceled")


@dataclass
class OrderCounters:
    _counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _bump(self, venue: str, outcome: str) -> None:
        with self._lock:
            counts = self._counts.setdefault(venue, dict.fromkeys(OUTCOMES, 0))
            counts[outcome] += 1

    def received(self, venue: str) -> None:
        self._bump(venue, "received")

    def accepted(self, venue: str) -> None:
        self._bump(venue, "accepted")

    def rejected(self, venue: str) -> None:
        self._bump(venue, "rejected")

    def duplicate(self, venue: str) -> None:
        self._bump(venue, "duplicate")

    def canceled(self, venue: str) -> None:
        self._bump(venue, "canceled")

    def count(self, venue: str, outcome: str = "accepted") -> int:
        with self._lock:
            return self._counts.get(venue, {}).get(outcome, 0)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {venue: dict(counts) for venue, counts in self._counts.items()}
