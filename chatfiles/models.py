"""ChatFiles: the files an agent wrote in a conversation. Immutable once stored."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImmutableError(Exception):
    pass


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class ChatFileQuerySet(models.QuerySet["ChatFile"]):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableError("chat files are immutable: store a new file instead")


class ChatFile(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_files")
    chat_id = models.CharField(max_length=128, blank=True, help_text="The conversation the file came from.")
    filename = models.CharField(max_length=128)
    content = models.TextField()
    sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChatFileQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "chat_id"]), models.Index(fields=["sha256"])]
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="chatfile_sha256_is_hex"),
            # A plain name: no path separators, no hidden files, never empty.
            models.CheckConstraint(
                condition=Q(filename__regex=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), name="chatfile_filename_is_plain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableError("chat files are immutable: store a new file instead")
        self.sha256 = content_sha256(self.content)
        super().save(*args, **kwargs)
