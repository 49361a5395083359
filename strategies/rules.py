"""May a strategy run a cycle now: the one rule the worker, Run now, the dashboard and the tick all ask.

Reads only (the models), so every layer above may use it; nothing here writes or enqueues.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from strategies.models import Execution, Mode, Strategy
from trading.killswitch import kill_switch_engaged, kill_switch_reason


def strategy_not_runnable_reason(strategy: Strategy, *, dry_run: bool) -> str | None:
    """Why a cycle of this strategy may not run now, or None. A dry run (of the newest version) only needs
    deployed code; a real cycle runs `running_version`, the approved one, whatever newer version waits."""
    if strategy.current_version_id is None:
        return f"strategy {strategy.pk} has no deployed version"
    if strategy.status == Strategy.Status.ARCHIVED:
        return f"strategy {strategy.pk} is archived"
    if dry_run:
        return None
    version = strategy.running_version
    if version is None:
        newest = strategy.current_version
        assert newest is not None
        if strategy.mode == Mode.LIVE and newest.is_approved_for_paper:
            return f"strategy {strategy.pk} v{newest.number} is not approved for live trading"
        return (
            f"strategy {strategy.pk} v{newest.number} is not approved (status {strategy.status}); "
            "a dry run is allowed"
        )
    if strategy.mode == Mode.BACKTEST:
        return f"strategy {strategy.pk} is in backtest mode: it runs as a backtest, not a live cycle"
    if strategy.mode == Mode.LIVE and not version.is_approved_for_live:
        return f"strategy {strategy.pk} v{version.number} is not approved for live trading"
    return None


def strategy_not_startable_reason(strategy: Strategy) -> str | None:
    """Why a real cycle may not be queued now (Run now): runnable, enabled, and live only with the kill switch off."""
    reason = strategy_not_runnable_reason(strategy, dry_run=False)
    if reason is None and not strategy.enabled:
        reason = f"strategy {strategy.pk} is paused: enable it first"
    if reason is None and strategy.mode == Mode.LIVE and kill_switch_engaged():
        reason = f"the kill switch is engaged ({kill_switch_reason()})"
    return reason


def cycles_in_flight(strategies: Iterable[Strategy] | QuerySet[Strategy]) -> QuerySet[Execution]:
    """Their real cycles queued or running (a test run aside): a strategy with one is busy, cycles never overlap."""
    return (Execution.objects.filter(strategy__in=strategies, status__in=Execution.ACTIVE)
            .exclude(trigger=Execution.Trigger.DRY_RUN))
