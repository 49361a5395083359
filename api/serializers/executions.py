"""Runs: their filters, log lines, actions, summaries and details."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.common import iso
from strategies.models import Execution, ExecutionTrigger, Mode


class ExecutionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(Execution.Status.values, required=False)
    trigger = serializers.ChoiceField(ExecutionTrigger.values, required=False)


class LogLineSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    level = serializers.CharField()
    message = serializers.CharField()


class ActionSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    kind = serializers.CharField(help_text="order_placed, order_refused, order_would_place (a dry run), "
                                           "position_closed, strategy_paused.")
    message = serializers.CharField()
    payload = serializers.DictField()


class ExecutionSummarySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    strategy_id = serializers.CharField()
    version = serializers.IntegerField()
    trigger = serializers.ChoiceField(ExecutionTrigger.values)
    mode = serializers.ChoiceField(Mode.values)
    status = serializers.ChoiceField(Execution.Status.values)
    scheduled_for = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    entries = serializers.IntegerField()
    exits = serializers.IntegerField()
    error = serializers.CharField(allow_null=True, help_text="Why it failed, with the script's own traceback.")

    def to_representation(self, instance: Execution) -> dict[str, Any]:
        when = iso
        return {
            "id": str(instance.pk), "strategy_id": str(instance.strategy_id), "version": instance.version.number,
            "trigger": instance.trigger, "mode": instance.mode, "status": instance.status,
            "scheduled_for": when(instance.scheduled_for),
            "started_at": when(instance.started_at) if instance.started_at else None,
            "finished_at": when(instance.finished_at) if instance.finished_at else None,
            "duration_ms": instance.duration_ms, "entries": instance.entries, "exits": instance.exits,
            "error": instance.error or None,
        }


class ExecutionSerializer(ExecutionSummarySerializer):
    logs = LogLineSerializer(many=True)
    actions = ActionSerializer(many=True)
    state_after = serializers.DictField(allow_null=True, help_text="ctx.state as the cycle left it.")

    def to_representation(self, instance: Execution) -> dict[str, Any]:
        when = iso
        return {
            **super().to_representation(instance),
            "logs": [{"seq": line.seq, "ts": when(line.ts), "level": line.level, "message": line.message}
                     for line in instance.logs.order_by("seq")],
            "actions": [{"seq": a.seq, "ts": when(a.ts), "kind": a.kind, "message": a.message, "payload": a.payload}
                        for a in instance.actions.order_by("seq")],
            "state_after": instance.state_after if isinstance(instance.state_after, dict) else None,
        }
