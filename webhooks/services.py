"""Webhook endpoints and the events recorded for them (docs/api.md#webhooks).

An event is recorded in the caller's transaction (`webhook_event_record`: rows only, no network) and its
deliveries are queued (`webhooks.send`, webhooks/tasks.py) when that transaction commits; the attempt itself is
webhooks/delivery.py's. Imports run services -> tasks -> delivery, never back.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from webhooks.delivery import WebhookInvalid, webhook_addresses
from webhooks.models import SUBSCRIBABLE, WebhookDelivery, WebhookEndpoint, WebhookEventType
from webhooks.tasks import webhook_send

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_ENDPOINTS_PER_USER = 20


def _events_valid(events: Iterable[Any]) -> list[str]:
    events = list(events)
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown or not events:
        raise WebhookInvalid("events", f"must list one or more of {', '.join(SUBSCRIBABLE)}, got {unknown or events!r}")
    return sorted(set(events))


def _url_valid(url: str) -> str:
    webhook_addresses(url, resolve=not settings.WEBHOOK_ALLOW_PRIVATE_URLS)
    return url


# --- endpoints ----------------------------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_create(*, user: User, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    """A new endpoint with its own signing secret (read it from the returned row: it is shown this once)."""
    events = _events_valid(events)
    url = _url_valid(url)
    User.objects.select_for_update().filter(pk=user.pk).first()  # counts and creates one at a time per user
    if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
        raise WebhookInvalid("url", f"you have {MAX_ENDPOINTS_PER_USER} webhook endpoints already; delete one first")
    return WebhookEndpoint.objects.create(user=user, url=url, events=events, description=description.strip()[:200],
                                          secret=SECRET_PREFIX + secrets.token_urlsafe(32))


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, url: str | None = None, events: list[str] | None = None,
                            description: str | None = None, enabled: bool | None = None) -> WebhookEndpoint:
    fields = ["updated_at"]
    if url is not None:
        endpoint.url = _url_valid(url)
        fields.append("url")
    if events is not None:
        endpoint.events = _events_valid(events)
        fields.append("events")
    if description is not None:
        endpoint.description = description.strip()[:200]
        fields.append("description")
    if enabled is not None:
        endpoint.enabled = enabled
        fields.append("enabled")
    endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()  # its deliveries go with it: nothing is sent to a deleted endpoint


# --- events -------------------------------------------------------------------------------------------


def _enqueue(delivery_ids: list[int]) -> None:

    for delivery_id in delivery_ids:
        webhook_send.delay(delivery_id)


def _record(endpoints: list[WebhookEndpoint], event_type: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "type": event_type, "created_at": now.isoformat().replace("+00:00", "Z"),
               "data": data}
    deliveries = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(endpoint=endpoint, event_id=event_id, event_type=event_type, payload=payload,
                        next_attempt_at=now) for endpoint in endpoints])
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))  # persist, then deliver: never for a change rolled back
    return deliveries


def webhook_event_record(*, user_id: int, event_type: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Record `event_type` for every enabled endpoint of the user subscribed to it, in the caller's transaction.

    Rows only: the POSTs happen in Celery tasks after the commit, so a cycle never waits for a receiver.
    """
    assert event_type in SUBSCRIBABLE, event_type
    endpoints = [endpoint for endpoint in WebhookEndpoint.objects.filter(user_id=user_id, enabled=True)
                 if event_type in endpoint.events]
    return _record(endpoints, event_type, data)


@transaction.atomic
def webhook_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `ping` event for this endpoint alone, whatever it subscribes to and even when disabled."""
    return _record([endpoint], WebhookEventType.PING,
                   {"endpoint_id": str(endpoint.pk), "message": "a test event from StrategyHub"})[0]


# --- delivery -----------------------------------------------------------------------------------------


