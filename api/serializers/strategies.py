"""Strategies: deploy, pause, filters, what a strategy reads as, the deploy's smoke run, Run now."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.common import ErrorSerializer, iso
from api.serializers.executions import ActionSerializer, LogLineSerializer
from api.serializers.files import FileIdsField, FilesField
from strategies.models import Mode, Strategy, StrategyStatus, schedule_text
from trading.venues.platforms import Platform


class DeploySerializer(serializers.Serializer[Any]):
    files = FilesField(required=False, help_text="Every file of the strategy, by name.")
    file_ids = FileIdsField(required=False, help_text="Ids of files uploaded with POST /api/v1/files/.")
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    mode = serializers.ChoiceField([Mode.PAPER, Mode.BACKTEST], required=False, default=Mode.PAPER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("files" in attrs) == ("file_ids" in attrs):
            raise serializers.ValidationError("send either files or file_ids, not both or neither")
        return attrs


class PauseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class CloneSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(required=False, allow_blank=True, max_length=120, default="",
                                 help_text="The new strategy's name (config.json `name`); default \"<name> (copy)\".")
    chat_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class StrategyFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(StrategyStatus.values, required=False)
    mode = serializers.ChoiceField(Mode.values, required=False)
    platform = serializers.ChoiceField(Platform.values, required=False)


class StrategySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    thesis = serializers.CharField()
    platform = serializers.ChoiceField(Platform.values)
    status = serializers.ChoiceField(StrategyStatus.values, help_text=(
        "Where the current (newest) version stands. pending_approval: a person must approve it before it runs; "
        "approved: it runs while enabled; rejected: read rejection_reason on the version and deploy a fix. An "
        "approved older version keeps running meanwhile: see running_version."))
    mode = serializers.ChoiceField(Mode.values)
    enabled = serializers.BooleanField()
    paused_reason = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="The current (newest) version's number.")
    running_version = serializers.IntegerField(allow_null=True, help_text=(
        "The number of the approved version that scheduled cycles and Run now run (null until one is approved); "
        "it keeps running while a newer version waits for approval. The strategy's name, schedule and config "
        "are this version's."))
    polling_interval = serializers.IntegerField(help_text="Seconds between cycles.")
    schedule = serializers.CharField()
    next_run_at = serializers.DateTimeField(allow_null=True)
    runs_total = serializers.IntegerField()
    runs_succeeded = serializers.IntegerField()
    runs_failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    dashboard_url = serializers.CharField()

    def to_representation(self, instance: Strategy) -> dict[str, Any]:
        row = {column: getattr(instance, column) for column in STRATEGY_VALUES if "__" not in column}
        row["current_version__number"] = instance.current_version.number if instance.current_version else None
        row["running_version__number"] = instance.running_version.number if instance.running_version else None
        request = self.context.get("request")
        return strategy_row(row, request.build_absolute_uri("/strategies/") if request else "/strategies/")


# The columns a strategy's answer is made of (a list reads them with .values(): no model instance per row).
STRATEGY_VALUES = ("id", "name", "description", "thesis", "platform", "status", "mode", "enabled", "paused_reason",
                   "polling_interval", "next_run_at", "runs_total", "runs_succeeded", "runs_failed", "created_at",
                   "updated_at", "current_version__number", "running_version__number")


def strategy_row(row: dict[str, Any], dashboard_base: str) -> dict[str, Any]:
    """StrategySerializer's answer from the STRATEGY_VALUES of one strategy."""
    return {
        "id": str(row["id"]), "name": row["name"], "description": row["description"], "thesis": row["thesis"],
        "platform": row["platform"], "status": row["status"], "mode": row["mode"], "enabled": row["enabled"],
        "paused_reason": row["paused_reason"], "version": row["current_version__number"],
        "running_version": row["running_version__number"],
        "polling_interval": row["polling_interval"], "schedule": schedule_text(row["polling_interval"]),
        "next_run_at": iso(row["next_run_at"]) if row["next_run_at"] else None,
        "runs_total": row["runs_total"], "runs_succeeded": row["runs_succeeded"], "runs_failed": row["runs_failed"],
        "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
        "dashboard_url": f"{dashboard_base}#strategy-{row['id']}",
    }


class SmokeSerializer(serializers.Serializer[Any]):
    status = serializers.CharField(help_text="succeeded, failed, timed_out, or not_started (no sandbox).")
    execution_id = serializers.CharField(allow_null=True, help_text="null for the smoke run of refused files.")
    logs = LogLineSerializer(many=True)
    actions = ActionSerializer(many=True)
    error = serializers.CharField(allow_null=True)
    config_defaults = serializers.DictField(
        help_text="config.json values the run took from the schema's defaults, by JSON path (null: a key left out); "
                  "empty when config.json was used as sent.")


class RefusedSmokeSerializer(SmokeSerializer):
    note = serializers.CharField(help_text="What this run of refused files used, and that nothing was stored.")


class DeployRefusedSerializer(ErrorSerializer):
    smoke = RefusedSmokeSerializer(
        required=False, help_text="When the files were judged: one dry-run cycle of them anyway (config.json's missing "
                                  "or invalid values from the schema's defaults), so runtime errors come in this same "
                                  "answer. Nothing was stored.")


class DeployedStrategySerializer(StrategySerializer):
    created = serializers.BooleanField(help_text="false when the same files were deployed before: same version.")
    smoke = SmokeSerializer(help_text="One dry-run cycle of the new version in the sandbox: nothing was sent.")


class RunQueuedSerializer(serializers.Serializer[Any]):
    execution_id = serializers.CharField()
    status = serializers.CharField()
    execution_url = serializers.CharField()
