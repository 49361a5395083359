"""API keys and the tool definitions for function calling."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class KeyLabelSerializer(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=80, allow_blank=True)  # type: ignore[assignment]


class ApiKeySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's public start, shk_<prefix>_…; the secret is never shown.")
    label = serializers.CharField()  # type: ignore[assignment]
    scope = serializers.ChoiceField(["agent", "read"])
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    current = serializers.BooleanField(help_text="The key this request was made with.")


class ToolsFormatSerializer(serializers.Serializer[Any]):
    format = serializers.ChoiceField(["openai", "anthropic", "mcp"], required=False, default="openai")


class ToolsSerializer(serializers.Serializer[Any]):
    format = serializers.CharField()
    tools = serializers.ListField(child=serializers.DictField())
