"""The strategy events a user's webhooks hear (webhooks/): what each one says, recorded in the caller's transaction."""

from __future__ import annotations

from strategies.models import Execution, Strategy, StrategyVersion
from webhooks.models import WebhookEventType
from webhooks.services import webhook_event_record


def _strategy(strategy: Strategy) -> dict[str, str]:
    return {"strategy_id": str(strategy.pk), "strategy_name": strategy.name}


def webhook_execution_failed(execution: Execution) -> None:
    strategy = execution.strategy
    webhook_event_record(user_id=strategy.owner_id, event_type=WebhookEventType.EXECUTION_FAILED, data={
        **_strategy(strategy), "execution_id": str(execution.pk), "status": execution.status,
        "trigger": execution.trigger, "mode": execution.mode, "error": (execution.error or "")[:2000],
        "execution_path": f"/api/v1/executions/{execution.pk}/"})


def webhook_strategy_paused(strategy: Strategy, *, cause: str) -> None:
    webhook_event_record(user_id=strategy.owner_id, event_type=WebhookEventType.STRATEGY_PAUSED, data={
        **_strategy(strategy), "cause": cause, "reason": strategy.paused_reason, "mode": strategy.mode})


def webhook_version_pending(version: StrategyVersion, strategy: Strategy) -> None:
    webhook_event_record(user_id=strategy.owner_id, event_type=WebhookEventType.VERSION_PENDING_APPROVAL, data={
        **_strategy(strategy), "version": version.number, "content_hash": version.content_hash,
        "versions_path": f"/api/v1/strategies/{strategy.pk}/versions/{version.number}/"})
