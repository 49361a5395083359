"""Reads of webhooks: a user's endpoints and deliveries, and the deliveries the sweep must send."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

# A first attempt is the on-commit task's; the sweep takes it only once that task looks lost (a Redis restart).
FIRST_ATTEMPT_GRACE = timedelta(seconds=30)


def webhook_endpoints_for_user(user: User) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user)


def webhook_deliveries_for_endpoint(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id")


def webhook_deliveries_due(*, now: datetime, limit: int = 200) -> list[int]:
    """Pending deliveries whose next attempt is due (retries) or whose first attempt's task was lost."""
    due = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now).filter(
        Q(attempts__gt=0) | Q(next_attempt_at__lte=now - FIRST_ATTEMPT_GRACE))
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
