"""Versions: a new one, their files, one version, the diff of two."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.files import FileIdsField, FilesField


class VersionCreateSerializer(serializers.Serializer[Any]):
    files = FilesField(required=False, help_text="Files that replace the current version's of the same name.")
    file_ids = FileIdsField(required=False, help_text="Uploaded files that replace those of the same name.")
    config = serializers.DictField(required=False, help_text="A whole new config.json, as an object.")
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not {"files", "file_ids", "config"} & set(attrs):
            raise serializers.ValidationError("send files, file_ids or config (or several)")
        if "files" in attrs and "file_ids" in attrs:
            raise serializers.ValidationError("send either files or file_ids, not both")
        return attrs


class VersionFileSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()


class VersionFileContentSerializer(VersionFileSerializer):
    content = serializers.CharField()


class VersionSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    layout = serializers.CharField()
    content_hash = serializers.CharField()
    approval = serializers.ChoiceField(["pending", "approved_paper", "approved_live", "rejected"])
    rejection_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    approved_paper_at = serializers.DateTimeField(allow_null=True)
    approved_live_at = serializers.DateTimeField(allow_null=True)
    is_current = serializers.BooleanField()
    is_running = serializers.BooleanField(help_text="The approved version the strategy's cycles run: it keeps running "
                                          "while a newer (current) one waits for approval.")
    files = VersionFileSerializer(many=True)


class VersionDetailSerializer(VersionSerializer):
    config = serializers.DictField()
    files = VersionFileContentSerializer(many=True)


class FileDiffSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField()
    change = serializers.ChoiceField(["added", "removed", "modified"])
    diff = serializers.CharField(help_text="A unified diff (difflib), `a/` the older version, `b/` the newer.")


class VersionDiffSerializer(serializers.Serializer[Any]):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    files = FileDiffSerializer(many=True, help_text="Only the files that differ.")
