"""Issuing, checking, labelling and revoking API keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyScope
from strategyhub.lib.redis_client import shared_key, shared_redis
from strategyhub.lib.refusal import Refused

logger = logging.getLogger(__name__)

KEY_PREFIX = "shk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyLimit(Refused):
    """A user holds API_KEYS_PER_USER active keys: more keys would buy nothing (the throttle counts per user)."""

    type = "key_limit"


@transaction.atomic
def api_key_issue(*, user: User, label: str = "", scope: str = ApiKeyScope.AGENT) -> str:
    """Create a key and return it in full; this is the only time it can be read."""
    if scope not in ApiKeyScope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiKeyScope.values)}, got {scope!r}")
    User.objects.select_for_update().filter(pk=user.pk).first()  # two mints at once count one after the other
    active = ApiKey.objects.filter(user=user, revoked_at__isnull=True).count()
    if active >= settings.API_KEYS_PER_USER:
        raise ApiKeyLimit(f"you have {active} active API keys, the most allowed (API_KEYS_PER_USER): revoke one "
                          "you no longer use, then create another")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, prefix=prefix, key_hash=_hash(secret), label=label, scope=scope)
    return f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_find(raw_key: str) -> ApiKey | None:
    """The active key (with its active user) `raw_key` is, or None for an unknown, revoked or malformed key."""
    if not raw_key.startswith(KEY_PREFIX) or raw_key.count("_") < 2 or "\x00" in raw_key or len(raw_key) > 200:
        return None
    prefix, _, secret = raw_key[len(KEY_PREFIX) :].partition("_")
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(secret)):
        return None
    if not api_key.user.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # A write per request would cost more than the read it authenticates: a minute is precise enough.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def api_key_user(raw_key: str) -> User | None:
    """The active user a key belongs to, or None for an unknown, revoked or malformed key."""
    api_key = api_key_find(raw_key)
    return None if api_key is None else api_key.user


def api_key_label(*, api_key: ApiKey, label: str) -> ApiKey:
    api_key.label = label.strip()[:80]
    api_key.save(update_fields=["label"])
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good (idempotent: a revoked key keeps its first revocation time)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        api_keys_invalidate()
    return api_key


# --- The per-process cache of verified keys, for the lean read routes (api/lean.py) ---------------------------
# A verified key is remembered for KNOWN_KEY_SECONDS with the revocation version Redis held before it was read
# from the database; every request reads that version in the throttle's round trip, and a revocation (or a
# change to a user: deactivated, deleted) bumps it, so every process drops its cache at its next request.

KNOWN_KEY_SECONDS = LAST_USED_RESOLUTION.total_seconds()  # a reload a minute also keeps last_used_at current
KNOWN_KEYS_MAX = 10_000


def revocations_key() -> str:
    return shared_key("api_keys:revocations")


@dataclass(frozen=True)
class KnownKey:
    key_id: int
    user_id: int
    user_joined: float  # the user's date_joined, as a timestamp (the throttle's identity of the user)
    can_write: bool
    revocations: Any  # the revocation version read before the key was (bytes, or None before any revocation)
    expires: float  # time.monotonic()


_known: dict[str, KnownKey] = {}


def api_keys_invalidate() -> None:
    """Every process's cached keys are stale: bump the version now (the revoking request's own transaction may
    not have committed yet, so bump again once it has: a process that re-read the key in between drops it).

    Without Redis (a user saved by `seed_demo` or `createsuperuser` before it runs) there is nothing to bump: no
    process can check a cached key then either, and one that cached it keeps it at most KNOWN_KEY_SECONDS."""

    def bump() -> None:
        try:
            shared_redis().incr(revocations_key())
        except redis.RedisError as exc:
            logger.warning("API key cache: could not bump the revocation version: %s", exc)

    bump()
    transaction.on_commit(bump)


def api_key_known(raw_key: str) -> KnownKey | None:
    """A key this process verified lately, unless it expired; the caller still checks `revocations` against
    Redis (in the throttle's round trip) before trusting it."""
    known = _known.get(raw_key)
    if known is None or known.expires < time.monotonic():
        return None
    return known


def api_key_forget(raw_key: str) -> None:
    _known.pop(raw_key, None)


def api_key_verify(raw_key: str) -> KnownKey | None:
    """Check `raw_key` in the database (api_key_find) and remember it; None for an unknown or revoked key."""
    revocations = shared_redis().get(revocations_key())  # read before the key: a revocation after it shows
    api_key = api_key_find(raw_key)
    if api_key is None:
        return None
    if len(_known) >= KNOWN_KEYS_MAX:
        _known.clear()
    known = _known[raw_key] = KnownKey(
        key_id=api_key.pk, user_id=api_key.user_id, user_joined=api_key.user.date_joined.timestamp(),
        can_write=api_key.can_write, revocations=revocations, expires=time.monotonic() + KNOWN_KEY_SECONDS)
    return known
