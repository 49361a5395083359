"""What every resource's serializers share: the error shape, ids, times, file names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from strategies.validation import MAX_FILE_BYTES

FILENAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"


MAX_FILES = 20


ID_MAX = 2**63 - 1


def iso(value: datetime) -> str:
    """A time as DRF's DateTimeField writes it (ISO 8601 in UTC, `Z`), without building a field per value:
    the list routes write a few hundred a request."""
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class IssueSerializer(serializers.Serializer[Any]):
    file = serializers.CharField(allow_null=True, help_text="The file the problem is in (config.json, entry.py, …).")
    path = serializers.CharField(allow_null=True, help_text="JSON path in config.json, or the request field.")
    line = serializers.IntegerField(allow_null=True, help_text="Line in a Python file.")
    message = serializers.CharField(help_text="What is wrong and what would be valid.")


class ErrorDetailSerializer(serializers.Serializer[Any]):
    type = serializers.CharField(help_text=(
        "What to branch on: validation_error, parse_error, not_authenticated, authentication_failed, "
        "permission_denied, not_found, method_not_allowed, unsupported_media_type, already_running, "
        "not_runnable, conflict, name_taken, idempotency_key_reused, idempotency_in_progress, throttled, "
        "internal_error."))
    message = serializers.CharField()
    issues = IssueSerializer(many=True)


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


class EmptySerializer(serializers.Serializer[Any]):
    pass


def filename_field() -> serializers.RegexField:
    return serializers.RegexField(FILENAME_PATTERN, max_length=128, error_messages={
        "invalid": "must be a plain file name (letters, digits, _ . -), like entry.py"})


def content_field() -> serializers.CharField:
    return serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_FILE_BYTES)
