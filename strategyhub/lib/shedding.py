"""Load shedding for the `web` process: a request that waited longer than its deadline before a worker thread
took it is answered 503 at once, without touching Django, the database or Redis.

Overloaded, a server that answers everything in arrival order answers only requests whose clients gave up long
ago, and its goodput falls to zero (daphne did, issue 22). Refusing the stale ones quickly keeps the fresh ones
fast: goodput stays at capacity. When the request arrived is told by the process in front (`X-Request-Start:
t=<seconds since the epoch>`, as strategyhub/front.py, nginx's `t=${msec}` or Heroku's router send it; seconds,
milliseconds and microseconds are all understood); without the header nothing is shed here, and the bounded
listen backlog (gunicorn's `backlog`) is what refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

BODY = (b'{"error":{"type":"overloaded","message":"the server is busy: retry in 1 s (see Retry-After)",'
        b'"issues":[]}}')


def arrived_at(header: str) -> float | None:
    """Seconds since the epoch from an X-Request-Start value (`t=1733500000.123`, `1733500000123`, ...)."""
    value = header.strip().removeprefix("t=")
    try:
        stamp = float(value)
    except ValueError:
        return None
    while stamp > 1e11:  # milliseconds or microseconds
        stamp /= 1000
    return stamp


class QueueDeadline:
    """WSGI middleware: 503 with Retry-After for a request older than `deadline_ms` when a thread takes it."""

    def __init__(self, app: WsgiApp, *, deadline_ms: int) -> None:
        self.app, self.deadline = app, deadline_ms / 1000

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_X_REQUEST_START")
        if self.deadline > 0 and header:
            arrived = arrived_at(header)
            if arrived is not None and time.time() - arrived > self.deadline:
                start_response("503 Service Unavailable", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(BODY))), ("Retry-After", "1")])
                return [BODY]
        return self.app(environ, start_response)


class ForwardedFor:
    """WSGI middleware: behind a proxy in `trusted` (the front, nginx), the client is the last address that proxy
    added to X-Forwarded-For, not the proxy itself: the login throttle counts per client (accounts/logins.py)."""

    def __init__(self, app: WsgiApp, *, trusted: list[str]) -> None:
        self.app, self.trusted = app, set(trusted)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded and environ.get("REMOTE_ADDR") in self.trusted:
            environ["REMOTE_ADDR"] = forwarded.rsplit(",", 1)[-1].strip()
        return self.app(environ, start_response)
