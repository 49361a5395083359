"""Issuing and checking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import ApiKey

KEY_PREFIX = "shk_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_issue(*, user: User, label: str = "") -> str:
    """Create a key and return it in full; this is the only time it can be read."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, prefix=prefix, key_hash=_hash(secret), label=label)
    return f"{KEY_PREFIX}{prefix}_{secret}"


def api_key_user(raw_key: str) -> User | None:
    """The active user a key belongs to, or None for an unknown, revoked or malformed key."""
    if not raw_key.startswith(KEY_PREFIX) or raw_key.count("_") < 2:
        return None
    prefix, _, secret = raw_key[len(KEY_PREFIX) :].partition("_")
    api_key = ApiKey.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(secret)):
        return None
    user = api_key.user
    if not user.is_active:
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return user
