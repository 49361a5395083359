from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiKey
from accounts.services import api_key_revoke


@admin.action(description="Revoke (for good: the key never authenticates again)", permissions=["change"])
def revoke(modeladmin: admin.ModelAdmin[ApiKey], request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
    for api_key in queryset:
        api_key_revoke(api_key=api_key)
    modeladmin.message_user(request, f"{len(queryset)} key(s) revoked")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "user", "label", "scope", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "prefix", "label", "scope", "created_at", "last_used_at", "revoked_at"]
    # A revocation is for good (docs/api.md): it is made by the action, through the service, and never undone.
    readonly_fields = ["user", "prefix", "scope", "created_at", "last_used_at", "revoked_at"]
    actions = [revoke]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued with `manage.py issue_api_key`, which shows the key once
