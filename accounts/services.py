"""Issuing, checking, labelling and revoking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyScope
from strategyhub.lib.refusal import Refused

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
    return api_key
