"""Celery tasks of webhooks: thin, they load and call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from webhooks.delivery import webhook_deliver
from webhooks.selectors import webhook_deliveries_due


@shared_task(name="webhooks.send", acks_late=True, ignore_result=True, soft_time_limit=30, time_limit=40)
def webhook_send(delivery_id: int) -> None:
    """One attempt at one delivery (queued when the event's transaction commits, or by the sweep)."""
    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def webhooks_sweep() -> int:
    """Beat, every few seconds: queue the retries that are due and the first attempts whose task was lost."""
    due = webhook_deliveries_due(now=timezone.now())
    for delivery_id in due:
        webhook_send.delay(delivery_id)
    return len(due)
