"""Writes for chat files."""

from __future__ import annotations

from django.contrib.auth.models import User

from chatfiles.models import ChatFile, content_sha256


def chatfile_create(*, owner: User, chat_id: str, filename: str, content: str) -> ChatFile:
    """Store a file, reusing an identical one the owner already stored in the same chat."""
    existing = ChatFile.objects.filter(
        owner=owner, chat_id=chat_id, filename=filename, sha256=content_sha256(content)
    ).first()
    if existing is not None:
        return existing
    return ChatFile.objects.create(owner=owner, chat_id=chat_id, filename=filename, content=content)
