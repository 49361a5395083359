"""Live updates: persisted log lines, actions and execution states, broadcast to the strategy's group.

Always called after the rows are committed (persist, then broadcast). Messages carry the
execution id and each row's sequence number, so a page that loaded history over HTTP follows
the socket without gaps or repeats by ignoring what it already has.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from strategies.models import Execution, ExecutionAction, ExecutionLog

logger = logging.getLogger(__name__)


def strategy_group(strategy_id: int) -> str:
    return f"strategy-{strategy_id}"


def execution_event(
    execution: Execution, logs: list[ExecutionLog] | None = None, actions: list[ExecutionAction] | None = None
) -> dict[str, Any]:
    """Everything a follower needs about one execution: the persisted rows (passed in, or read back)."""
    logs = list(execution.logs.order_by("seq")) if logs is None else logs
    actions = list(execution.actions.order_by("seq")) if actions is None else actions
    return {
        "execution": {
            "id": str(execution.pk), "status": execution.status, "trigger": execution.trigger,
            "scheduled_for": execution.scheduled_for.isoformat(), "duration_ms": execution.duration_ms,
            "entries": execution.entries, "exits": execution.exits, "error": execution.error or None,
        },
        "logs": [
            {"seq": line.seq, "ts": line.ts.isoformat(), "level": line.level, "message": line.message}
            for line in logs
        ],
        "actions": [
            {"seq": action.seq, "ts": action.ts.isoformat(), "kind": action.kind, "message": action.message}
            for action in actions
        ],
    }


def execution_broadcast(
    execution: Execution, logs: list[ExecutionLog] | None = None, actions: list[ExecutionAction] | None = None
) -> None:
    """Send the execution's persisted state to its strategy's followers; never fails the cycle."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            strategy_group(execution.strategy_id),
            {"type": "strategy.event", "event": execution_event(execution, logs, actions)},
        )
    except Exception:  # the run is persisted; a follower reloads history when the socket misses it
        logger.exception("broadcast of execution %s failed", execution.pk)
