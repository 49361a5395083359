from django.contrib import admin
from django.http import HttpRequest

from webhooks.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "user", "events", "enabled", "created_at"]
    fields = readonly_fields = ("user", "url", "events", "description", "enabled", "created_at", "updated_at")
    # read only: no field edit bypasses the services (the API checks the URL and the events)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # endpoints are made through the API, which checks the URL and shows the secret once


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "event_type", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    readonly_fields = ["endpoint", "event_id", "event_type", "payload", "status", "attempts", "next_attempt_at",
                       "last_attempt_at", "last_status_code", "last_error", "created_at", "delivered_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
