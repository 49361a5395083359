"""Throttling per API key (per user for a browser session), counted in the shared Redis cache.

Reads and writes are counted apart: `API_THROTTLE_RATES = {"read": "600/min", "write": "60/min"}`.
A throttled request gets 429 `throttled` with `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class ApiKeyThrottle(SimpleRateThrottle):
    def __init__(self) -> None:  # the rate is read per request, so a settings change applies at once
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"
        self.rate = settings.API_THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key{request.auth.prefix}"  # random, never reused (a row id is, in a fresh database)
        elif request.user and request.user.is_authenticated:
            ident = f"user{request.user.pk}:{request.user.date_joined.timestamp():.0f}"
        else:
            ident = f"ip{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"
