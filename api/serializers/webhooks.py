"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def _events_field(**kwargs: Any) -> serializers.ListField:
    from webhooks.models import SUBSCRIBABLE

    return serializers.ListField(child=serializers.ChoiceField(SUBSCRIBABLE), min_length=1,
                                 max_length=len(SUBSCRIBABLE) * 2, help_text=(
                                     "The event types to send here: " + ", ".join(SUBSCRIBABLE) + "."), **kwargs)


class WebhookCreateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, help_text="http(s) URL StrategyHub POSTs each event to.")
    events = _events_field()
    description = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class WebhookUpdateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, required=False)
    events = _events_field(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    enabled = serializers.BooleanField(required=False, help_text="false: no event is recorded for it.")


class WebhookSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(allow_null=True, help_text="The signing secret (whsec_…): shown in this answer "
                                   "only; keep it. null when the answer is an Idempotency-Key replay.")
    secret_note = serializers.CharField(required=False, help_text="On a replay only: why `secret` is null.")


class WebhookDeliverySerializer(serializers.Serializer[Any]):
    id = serializers.CharField(help_text="The StrategyHub-Delivery header: drop an id you have already handled.")
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(["pending", "delivered", "failed"])
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True, help_text="The receiver's last HTTP status.")
    last_error = serializers.CharField(allow_null=True, help_text="Why the last attempt failed.")
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.DictField(help_text="The body sent: {id, type, created_at, data}.")
