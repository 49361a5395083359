"""Throttling per user, whichever of their keys (or their browser session) asks, counted in the shared Redis cache.

A user's keys share one budget: minting more keys buys no more requests (issue 22, finding 3).

Reads and writes are counted apart: `API_THROTTLE_RATES = {"read": "600/min", "write": "60/min"}`.
A throttled request gets 429 `throttled` with `Retry-After`.

A sliding window made of two counters (this window's and the last one's, weighted by how much of it still
overlaps): a few constant-size Redis commands a request. DRF's SimpleRateThrottle kept every request's
timestamp in one list, read and rewritten whole on each request: at 1200/min that was a list of up to 1200
floats pickled twice per request.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class ApiKeyThrottle(SimpleRateThrottle):
    def __init__(self) -> None:  # the rate is read per request, so a settings change applies at once
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
        self.rate = settings.API_THROTTLE_RATES.get(self.scope)
        limit, duration = self.parse_rate(self.rate)
        base = self.get_cache_key(request, view)
        if limit is None or duration is None or base is None:
            return True
        now = time.time()
        window = int(now // duration)
        into = now - window * duration  # seconds into this window
        current = f"{base}:{window}"
        try:
            count = cache.incr(current)
        except ValueError:  # this window's first request (the count lives through the next window too)
            count = 1 if cache.add(current, 1, timeout=duration * 2 + 1) else cache.incr(current)
        previous = int(cache.get(f"{base}:{window - 1}", 0))
        weight = (duration - into) / duration  # how much of the last window the sliding one still covers
        if previous * weight + count <= limit:
            return True
        cache.decr(current)  # a refused request is not counted
        count -= 1
        # Until the last window's share has shrunk enough, or, if this window alone is full, until it ends.
        room = limit - count
        wait = duration - into if room <= 0 or previous == 0 else (duration - into) - room * duration / previous
        self.retry_after = max(1.0, math.ceil(wait))
        return False

    def wait(self) -> float | None:
        return self.retry_after

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.auth.user if isinstance(request.auth, ApiKey) else request.user
        if user and user.is_authenticated:
            # date_joined with the id: a row id is reused in a fresh database, the pair is not
            ident = f"user{user.pk}:{user.date_joined.timestamp():.0f}"
        else:
            ident = f"ip{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"
