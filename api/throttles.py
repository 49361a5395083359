"""Throttling per user, whichever of their keys (or their browser session) asks, counted in the shared Redis.

A user's keys share one budget: minting more keys buys no more requests (issue 22, finding 3).

Reads and writes are counted apart: `API_THROTTLE_RATES = {"read": "600/min", "write": "60/min"}`.
A throttled request gets 429 `throttled` with `Retry-After`.

A sliding window made of two counters (this window's and the last one's, weighted by how much of it still
overlaps), counted in one pipelined round trip on the process's persistent Redis client (`throttle_hit`);
the lean read routes (api/lean.py) read the API-key cache's revocation version in that same round trip.
Through Django's cache API the same count cost three or four round trips and a pickle each (0.72 ms against
0.06 ms, issue 22).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey
from strategyhub.lib.redis_client import shared_key, shared_redis

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LEAN_VERDICT = "strategyhub_throttle_verdict"  # set on the HttpRequest by a lean read that already counted itself


@dataclass(frozen=True)
class Hit:
    retry_after: int | None  # None: the request is allowed (and counted)
    extra: Any  # the value of `also_get` (bytes or None), read in the same round trip


def scope_of(method: str) -> str:
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


def user_ident(user_pk: int, date_joined: float) -> str:
    # date_joined with the id: a row id is reused in a fresh database, the pair is not
    return f"user{user_pk}:{date_joined:.0f}"


def throttle_hit(*, scope: str, ident: str, also_get: str | None = None) -> Hit:
    """Count one request of `ident` in `scope`; refused (and not counted) past API_THROTTLE_RATES[scope]."""
    rate = settings.API_THROTTLE_RATES.get(scope)  # read per request: a settings change applies at once
    client = shared_redis()
    if rate is None:
        return Hit(None, client.get(also_get) if also_get else None)
    number, _, period = rate.partition("/")
    limit, duration = int(number), PERIODS[period[0]]
    now = time.time()
    window = int(now // duration)
    into = now - window * duration  # seconds into this window
    current = shared_key(f"throttle:{scope}:{ident}:{window}")
    pipe = client.pipeline(transaction=False)
    pipe.incr(current)
    pipe.expire(current, duration * 2 + 1)  # the count lives through the next window too
    pipe.get(shared_key(f"throttle:{scope}:{ident}:{window - 1}"))
    if also_get:
        pipe.get(also_get)
    replies = pipe.execute()
    count, previous = int(replies[0]), int(replies[2] or 0)
    extra = replies[3] if also_get else None
    weight = (duration - into) / duration  # how much of the last window the sliding one still covers
    if previous * weight + count <= limit:
        return Hit(None, extra)
    client.decr(current)  # a refused request is not counted
    count -= 1
    # Until the last window's share has shrunk enough, or, if this window alone is full, until it ends.
    room = limit - count
    wait = duration - into if room <= 0 or previous == 0 else (duration - into) - room * duration / previous
    return Hit(max(1, math.ceil(wait)), extra)


class ApiKeyThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        verdict = getattr(request._request, LEAN_VERDICT, False)
        if verdict is not False:  # a lean read counted this request before handing it over
            self.retry_after = verdict
            return verdict is None
        user = request.auth.user if isinstance(request.auth, ApiKey) else request.user
        if user and user.is_authenticated:
            ident = user_ident(user.pk, user.date_joined.timestamp())
        else:
            ident = f"ip{self.get_ident(request)}"
        hit = throttle_hit(scope=scope_of(request.method or "GET"), ident=ident)
        self.retry_after = hit.retry_after
        return hit.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
