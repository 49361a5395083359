from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chatfiles.models import ChatFile

CHAT_FILE_ADMIN_FIELDS: tuple[str, ...] = ("owner", "chat_id", "filename", "sha256", "created_at", "content")


@admin.register(ChatFile)
class ChatFileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["filename", "owner", "chat_id", "sha256", "created_at"]
    search_fields = ["filename", "chat_id", "sha256", "owner__username"]
    fields = CHAT_FILE_ADMIN_FIELDS
    readonly_fields = CHAT_FILE_ADMIN_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
