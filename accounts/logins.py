"""Failed logins, counted per account and per client address in the shared cache (Redis), so every web process
agrees; past either bound, logging in is refused for LOGIN_LOCKOUT_SECONDS, right password or not.

Both doors (the dashboard's /accounts/login/ and the admin's) authenticate through `django.contrib.auth`, whose
signals count here: `user_login_failed` adds a failure to the account and to the client, `user_logged_in`
clears the account's. `LoginThrottleMiddleware` refuses a login POST while either is locked.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

PREFIX = "login-failures"


def _keys(*, username: str, client: str) -> list[tuple[str, int]]:
    """(cache key, bound) of the account and of the client; names are hashed, so any text makes a valid key."""
    account = hashlib.sha256(username.encode()).hexdigest()[:32]
    return [(f"{PREFIX}:account:{account}", settings.LOGIN_FAILURES_PER_ACCOUNT),
            (f"{PREFIX}:client:{client}", settings.LOGIN_FAILURES_PER_CLIENT)]


def client_address(request: HttpRequest) -> str:
    """The peer's address: behind a proxy, run daphne with --proxy-headers so it is the browser's, not the proxy's."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def login_retry_after(*, username: str, client: str) -> int | None:
    """Seconds until a login of `username` from `client` is allowed again, or None when it is allowed now."""
    locked_until = [cache.get(f"{key}:locked-until") for key, _bound in _keys(username=username, client=client)]
    waits = [int(until - time.time()) + 1 for until in locked_until if until and until > time.time()]
    return max(waits) if waits else None


def login_failure_record(*, username: str, client: str) -> None:
    """One more failed login for the account and the client; either locks when it reaches its bound."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    for key, bound in _keys(username=username, client=client):
        if cache.add(key, 1, timeout=window):  # the first failure opens a window of LOGIN_LOCKOUT_SECONDS
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # the window ended between the two commands
                count = 1 if cache.add(key, 1, timeout=window) else cache.incr(key)
        if count >= bound:
            cache.set(f"{key}:locked-until", time.time() + window, timeout=window)
            cache.delete(key)  # the lock is the record now; counting starts again after it


def login_success_record(*, username: str) -> None:
    """A login succeeded: the account's failures are forgiven (the client's stay counted)."""
    account_key, _bound = _keys(username=username, client="")[0]
    cache.delete(account_key)


def on_login_failed(credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        login_failure_record(username=str(credentials.get("username", "")), client=client_address(request))


def on_logged_in(user: Any, **kwargs: Any) -> None:
    login_success_record(username=user.get_username())
