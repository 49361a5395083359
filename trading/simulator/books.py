"""Order books, the replay clock and book-walking fills shared by the simulated venues."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class Book:
    """Best level first on both sides."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None


@dataclass(frozen=True)
class Execution:
    price: Decimal
    quantity: Decimal


def take_liquidity(book: Book, *, buy: bool, quantity: Decimal, limit: Decimal | None) -> list[Execution]:
    """Walk the opposite side of the book up to `limit`, best level first.

    Each order sees the whole displayed book: replayed liquidity is not depleted between orders.
    """
    executions: list[Execution] = []
    remaining = quantity
    for level in book.asks if buy else book.bids:
        if remaining <= 0:
            break
        if limit is not None and (level.price > limit if buy else level.price < limit):
            break
        filled = min(remaining, level.size)
        executions.append(Execution(level.price, filled))
        remaining -= filled
    return executions


class ReplayClock:
    """Maps wall time to a position in a recorded (or generated) series.

    `speed` compresses time (60 = one recorded hour per wall minute); 0 freezes the replay at its
    first moment, which tests use for deterministic books.
    """

    def __init__(self, speed: float = 1.0, started_at: float | None = None):
        self.speed = speed
        self.started_at = time.time() if started_at is None else started_at

    def elapsed(self) -> float:
        return (time.time() - self.started_at) * self.speed

    def position(self, first: float, last: float, lead: float = 0.0) -> float:
        """The replayed moment in [first, last], `lead` seconds in at start, looping when the recording ends.

        The lead leaves some recorded history before "now" even when the replay is frozen.
        """
        span = last - first
        if span <= 0:
            return first
        return first + ((lead + self.elapsed()) % span)

    def market_time(self, ts: float) -> float:
        """The moment a synthetic market's price is read at for wall time `ts`: `ts` itself while the
        replay runs; when it is frozen, no later than its start (the price stopped moving there)."""
        return min(ts, self.started_at) if self.speed == 0 else ts

    def history_scale(self) -> float:
        """How many recorded seconds one wall second stands for when replaying history."""
        return self.speed if self.speed > 0 else 1.0


def synthetic_walk(seed: str, points: int, start: float, volatility: float) -> list[float]:
    """A seeded geometric random walk: the same seed always gives the same series (drawn once a process)."""
    return list(_synthetic_walk(seed, points, start, volatility))


@lru_cache(maxsize=256)
def _synthetic_walk(seed: str, points: int, start: float, volatility: float) -> tuple[float, ...]:
    rng = random.Random(seed)  # noqa: S311 - seeded market simulation, not cryptography
    values = [start]
    for _ in range(points - 1):
        values.append(values[-1] * math.exp(rng.gauss(0.0, volatility)))
    return tuple(values)


def synthetic_probability_walk(seed: str, points: int, start: float, volatility: float) -> list[float]:
    """A seeded random walk in log-odds space, so the probability stays inside (0, 1) (drawn once a process)."""
    return list(_synthetic_probability_walk(seed, points, start, volatility))


@lru_cache(maxsize=256)
def _synthetic_probability_walk(seed: str, points: int, start: float, volatility: float) -> tuple[float, ...]:
    rng = random.Random(seed)  # noqa: S311 - seeded market simulation, not cryptography
    logit = math.log(start / (1 - start))
    values = []
    for _ in range(points):
        values.append(1 / (1 + math.exp(-logit)))
        logit = max(-3.5, min(3.5, logit + rng.gauss(0.0, volatility)))
    return tuple(values)


def ladder(
    best: Decimal, step: Decimal, levels: int, seed: str, *, up: bool, floor: Decimal, cap: Decimal
) -> tuple[Level, ...]:
    """A synthetic depth ladder from a best price, with seeded sizes."""
    rng = random.Random(seed)  # noqa: S311 - seeded market simulation, not cryptography
    result = []
    price = best
    for _ in range(levels):
        if price < floor or price > cap:
            break
        size = Decimal(rng.randrange(20, 600)).quantize(CENT, rounding=ROUND_DOWN)
        result.append(Level(price, size))
        price = price + step if up else price - step
    return tuple(result)
