"""A user's webhook endpoints and every event sent to them (docs/api.md#webhooks).

A delivery is a row before it is a request: recorded in the transaction of the change that caused it,
sent by a Celery task after the commit, retried with backoff, and found again by the beat sweep when
its task was lost. Nothing on a cycle's path waits for a receiver.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class WebhookEventType(models.TextChoices):
    EXECUTION_FAILED = "execution.failed", "A run failed or timed out"
    ORDER_FILLED = "order.filled", "An order got a fill"
    STRATEGY_PAUSED = "strategy.paused", "A strategy was paused (by its owner, the kill switch or the system)"
    VERSION_PENDING_APPROVAL = "version.pending_approval", "A new version waits for a person's approval"
    PING = "ping", "A test event (POST /api/v1/webhooks/{id}/test/)"


SUBSCRIBABLE = [value for value in WebhookEventType.values if value != WebhookEventType.PING]


class WebhookEndpoint(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    # Kept readable: signing needs it. Shown once, in the answer that creates the endpoint.
    secret = models.CharField(max_length=80)
    events = models.JSONField(default=list, help_text="The event types sent here; a list of WebhookEventType.")
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} · {self.url}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    """One event for one endpoint. `next_attempt_at` is when it is due; a claimed attempt pushes it forward."""

    Status = WebhookDeliveryStatus

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(help_text="The event's id: the same for every endpoint that gets it.")
    event_type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    payload = models.JSONField(help_text="The body sent, as JSON.")
    status = models.CharField(max_length=12, choices=WebhookDeliveryStatus.choices,
                              default=WebhookDeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once_per_endpoint"),
            models.CheckConstraint(condition=Q(status__in=WebhookDeliveryStatus.values),
                                   name="webhook_delivery_status_valid"),
        ]
        indexes = [
            # The sweep's question, "which pending deliveries are due?", reads only this small index.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status}, {self.attempts} attempts)"
