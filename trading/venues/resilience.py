"""Retries with backoff (only where safe) and token-bucket rate limiting per venue."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from trading.venues.errors import (
    MalformedResponse,
    OrderOutcomeUnknown,
    VenueConnectionError,
    VenueError,
    VenueTimeout,
    VenueUnavailable,
)

T = TypeVar("T")
RequestKind = Literal["read", "write"]
# A write that failed this way may still have reached the venue: its outcome is unknown.
IN_TRANSIT_ERRORS = (VenueTimeout, VenueConnectionError, VenueUnavailable, MalformedResponse)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 10.0  # a longer Retry-After is surfaced to the caller, not slept through

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up now."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.base_delay * float(2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not cryptography


class TokenBucket:
    """`rate` requests per second with bursts up to `burst`; `acquire` blocks until one is free."""

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


@dataclass(frozen=True)
class RateLimits:
    """Documented per-venue limits (docs/venues.md lists the sources)."""

    read_per_second: float
    write_per_second: float
    burst_seconds: float = 1.0

    def buckets(self) -> dict[RequestKind, TokenBucket]:
        return {
            "read": TokenBucket(self.read_per_second, max(1.0, self.read_per_second * self.burst_seconds)),
            "write": TokenBucket(self.write_per_second, max(1.0, self.write_per_second * self.burst_seconds)),
        }


class Resilience:
    """Runs one venue call: waits for the rate limiter, retries what is safe to retry."""

    def __init__(self, venue: str, limits: RateLimits | None, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.venue = venue
        self.policy = policy or RetryPolicy()
        self.buckets = limits.buckets() if limits else None
        self.sleep = sleep

    def call(self, operation: Callable[[], T], *, kind: RequestKind, idempotent: bool) -> T:
        """Reads are idempotent; a write is only when it carries an idempotency key."""
        attempt = 0
        while True:
            if self.buckets is not None:
                self.buckets[kind].acquire()
            attempt += 1
            try:
                return operation()
            except VenueError as error:
                if not (error.retryable and idempotent) or attempt >= self.policy.attempts:
                    if kind == "write" and idempotent and isinstance(error, IN_TRANSIT_ERRORS):
                        raise OrderOutcomeUnknown(self.venue, error.message, status=error.status) from error
                    raise
                delay = self.policy.delay(attempt, error.retry_after)
                if delay is None:
                    raise
                self.sleep(delay)
