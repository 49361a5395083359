"""Celery tasks: thin, they load and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from strategies.backtesting import backtest_execute, backtests_recover
from strategies.executor import CycleNotStarted, execution_run, execution_start
from strategies.models import Execution
from strategies.reconciliation import live_reconcile_all
from strategies.recovery import execution_recover
from strategies.recovery import executions_recover as recover
from strategies.scheduling import strategies_tick as tick
from strategies.services import strategies_pause_live
from trading.accounts import venue_client_for

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def strategies_tick() -> int:
    """The one beat entry: claim due strategies and enqueue their cycles (slow ones on the slow lane)."""
    return tick(enqueue=execution_cycle.delay, enqueue_slow=_on_slow_lane if settings.SLOW_CYCLE_SECONDS else None)


def _on_slow_lane(execution_id: int) -> None:
    execution_cycle.apply_async((execution_id,), queue=settings.CELERY_SLOW_QUEUE)


@shared_task(acks_late=True, ignore_result=True)
def execution_cycle(execution_id: int) -> None:
    """Run a scheduled execution once. A redelivered task finds it already claimed: it does nothing, or,
    when the worker that claimed it was lost, fails it and settles its orders (never a second order)."""
    if execution_start(execution_id=execution_id) is None:
        execution_recover(execution_id)


@shared_task(ignore_result=True)
def executions_recover() -> None:
    """Beat, every few seconds: runs whose worker or queued message was lost (strategies.recovery)."""
    recover(enqueue=execution_cycle.delay)
    backtests_recover()


@shared_task(acks_late=True, ignore_result=True)
def strategy_cycle(strategy_id: int, trigger: str = Execution.Trigger.MANUAL, dry_run: bool = False) -> None:
    """Test Run (and Run now): the dashboard queues it so the page never waits for the sandbox."""
    try:
        execution_run(strategy_id=strategy_id, trigger=trigger, dry_run=dry_run)
    except CycleNotStarted as exc:
        logger.warning("strategy %s: no cycle started: %s", strategy_id, exc)  # nothing ran: nothing to retry


@shared_task(ignore_result=True)
def worker_started() -> None:
    """When a worker starts: the kill switch setting, lost runs, then every live strategy against its venue."""
    if settings.KILL_SWITCH:
        paused = strategies_pause_live("KILL_SWITCH is set in the environment")
        logger.warning("KILL_SWITCH is set: live orders are refused; %s live strategies paused", paused)
    recover(enqueue=execution_cycle.delay)
    live_reconcile_all(client_factory=lambda owner_id, venue: venue_client_for(owner_id=owner_id, venue=venue,
                                                                                live=True))


@worker_ready.connect
def _on_worker_ready(**kwargs: object) -> None:
    worker_started.delay()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS,
             time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS + 30)
def backtest_run(backtest_id: int) -> None:
    """Run a queued backtest; progress and the result are persisted, then broadcast (strategies.backtesting)."""
    backtest_execute(backtest_id=backtest_id)
