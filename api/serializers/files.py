"""Files an agent uploads, and the fields that name them in a deploy."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.common import ID_MAX, MAX_FILES, content_field, filename_field


class FileCreateSerializer(serializers.Serializer[Any]):
    filename = filename_field()
    content = content_field()
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class FilesField(serializers.DictField):
    """{"entry.py": "<source>", ...}: file names checked like an uploaded file's."""

    child = content_field()

    def to_internal_value(self, data: Any) -> dict[str, str]:
        files: dict[str, str] = super().to_internal_value(data)
        errors = {}
        name_field = filename_field()
        for name in files:
            try:
                name_field.run_validation(name)
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
        if len(files) > MAX_FILES:
            raise serializers.ValidationError(f"at most {MAX_FILES} files, got {len(files)}")
        if errors:
            raise serializers.ValidationError(errors)
        return files


class FileIdsField(serializers.ListField):
    child = serializers.IntegerField(min_value=1, max_value=ID_MAX)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_FILES, **kwargs)


class FileSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes, UTF-8.")
    chat_id = serializers.CharField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"id": str(instance.pk), "filename": instance.filename, "sha256": instance.sha256,
                "size": len(instance.content.encode()), "chat_id": instance.chat_id,
                "created_at": serializers.DateTimeField().to_representation(instance.created_at)}


class FileContentSerializer(FileSerializer):
    content = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {**super().to_representation(instance), "content": instance.content}
