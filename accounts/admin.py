from django.contrib import admin
from django.http import HttpRequest

from accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["__str__", "user", "label", "scope", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "prefix", "label", "scope", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "prefix", "scope", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued with `manage.py issue_api_key`, which shows the key once
