"""Celery tasks: thin, they load and call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from strategies.executor import CycleNotStarted, execution_run, execution_start
from strategies.models import Execution
from strategies.scheduling import strategies_tick as tick

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def strategies_tick() -> int:
    """The one beat entry: claim due strategies and enqueue their cycles."""
    return tick(enqueue=execution_cycle.delay)


@shared_task(acks_late=True, ignore_result=True)
def execution_cycle(execution_id: int) -> None:
    """Run a scheduled execution; a redelivered task finds it already started and does nothing."""
    execution_start(execution_id=execution_id)


@shared_task(acks_late=True, ignore_result=True)
def strategy_cycle(strategy_id: int, trigger: str = Execution.Trigger.MANUAL, dry_run: bool = False) -> None:
    """Run now / Test Run: the same code path as `manage.py strategy_run`."""
    try:
        execution_run(strategy_id=strategy_id, trigger=trigger, dry_run=dry_run)
    except CycleNotStarted as exc:
        logger.warning("strategy %s: no cycle started: %s", strategy_id, exc)  # nothing ran: nothing to retry
