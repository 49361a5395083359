"""Celery tasks: thin, they load and call a service."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import close_old_connections

from strategies.backtests import backtest_execute, backtests_recover, sweep_step
from strategies.cycle.reconciliation import live_reconcile_all
from strategies.cycle.recovery import execution_recover
from strategies.cycle.recovery import executions_recover as recover
from strategies.cycle.run import CycleNotStarted, execution_run, execution_start
from strategies.models import Execution
from strategies.scheduling import CYCLES_PER_MESSAGE
from strategies.scheduling import strategies_tick as tick
from strategies.services import strategies_pause_live, test_run_slot_release
from trading.venue_accounts import venue_client_for

logger = logging.getLogger(__name__)


@shared_task(name="strategies.tick", ignore_result=True)
def strategies_tick() -> int:
    """The one beat entry: claim due strategies and enqueue their cycles, a few to a message (slow ones
    on the slow lane, one each)."""
    return tick(enqueue=execution_cycle.delay, enqueue_many=execution_cycles.delay,
                enqueue_slow=_on_slow_lane if settings.SLOW_CYCLE_SECONDS else None)


def _on_slow_lane(execution_id: int) -> None:
    execution_cycle.apply_async((execution_id,), queue=settings.CELERY_SLOW_QUEUE)


def _execution_run_once(execution_id: int) -> None:
    if execution_start(execution_id=execution_id) is None:
        execution_recover(execution_id)


@shared_task(name="strategies.execution_cycle", acks_late=True, ignore_result=True)
def execution_cycle(execution_id: int) -> None:
    """Run a scheduled execution once. A redelivered task finds it already claimed: it does nothing, or,
    when the worker that claimed it was lost, fails it and settles its orders (never a second order)."""
    _execution_run_once(execution_id)


class _CycleThreads:
    """This process's threads for the executions of one message (at most CYCLES_PER_MESSAGE at a time).
    Each thread keeps its own database connection; it is checked before and after every run, as Celery
    does for a task's, so a connection Postgres dropped is replaced, not reused."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def map(self, execution_ids: list[int]) -> None:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # a forked pool process makes its own
                self._pool = ThreadPoolExecutor(max_workers=CYCLES_PER_MESSAGE, thread_name_prefix="cycle")
                self._pid = os.getpid()
            pool = self._pool
        for future in [pool.submit(self._run, execution_id) for execution_id in execution_ids]:
            future.result()

    @staticmethod
    def _run(execution_id: int) -> None:
        close_old_connections()
        try:
            _execution_run_once(execution_id)
        except Exception:  # one run's failure in the worker must not stop the message's others
            logger.exception("execution %s failed in the worker", execution_id)
        finally:
            close_old_connections()


_cycle_threads = _CycleThreads()


@shared_task(name="strategies.execution_cycles", bind=True, acks_late=True, ignore_result=True)
def execution_cycles(self: Task[[list[int]], None], execution_ids: list[int]) -> None:
    """A tick's executions, side by side: each on a thread of its own, so a slow one delays none of the others.

    Redelivered (its worker was lost), each execution is handled as `execution_cycle` handles its one:
    a finished run is left alone, a run the lost worker claimed is failed and its orders settled, a run
    never claimed runs now (or is skipped, when past its interval)."""
    if self.request.is_eager or len(execution_ids) == 1:  # eager (tests): the caller's connection and transaction
        for execution_id in execution_ids:
            _execution_run_once(execution_id)
        return
    _cycle_threads.map(execution_ids)


@shared_task(name="strategies.executions_recover", ignore_result=True)
def executions_recover() -> None:
    """Beat, every few seconds: runs whose worker or queued message was lost (strategies.cycle.recovery)."""
    recover(enqueue=execution_cycle.delay)
    backtests_recover()


@shared_task(name="strategies.strategy_cycle", acks_late=True, ignore_result=True)
def strategy_cycle(strategy_id: int, trigger: str = Execution.Trigger.MANUAL, dry_run: bool = False,
                   slot: str = "") -> None:
    """Test Run (and Run now): the dashboard queues it so the page never waits for the sandbox; `slot` is the
    user's test-run slot it frees when it ends (strategies.services.test_run_slot_take)."""
    try:
        execution_run(strategy_id=strategy_id, trigger=trigger, dry_run=dry_run)
    except CycleNotStarted as exc:
        logger.warning("strategy %s: no cycle started: %s", strategy_id, exc)  # nothing ran: nothing to retry
    finally:
        test_run_slot_release(slot)


@shared_task(name="strategies.worker_started", ignore_result=True)
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


@shared_task(name="strategies.backtest_run", acks_late=True, ignore_result=True,
             soft_time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS,
             time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS + 30)
def backtest_run(backtest_id: int) -> None:
    """Run a queued backtest; progress and the result are persisted, then broadcast (strategies.backtests)."""
    backtest_execute(backtest_id=backtest_id)


def sweep_lane(sweep_id: int) -> None:
    """Send a sweep's lane its next turn: on the slow lane when there is one (Procfile `worker-slow`), so the points
    of a sweep never take the slots scheduled cycles need."""
    if settings.SLOW_CYCLE_SECONDS:
        sweep_point.apply_async((sweep_id,), queue=settings.CELERY_SLOW_QUEUE)
    else:
        sweep_point.delay(sweep_id)


@shared_task(name="strategies.sweep_point", acks_late=True, ignore_result=True,
             soft_time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS,
             time_limit=settings.BACKTEST_TIME_LIMIT_SECONDS + 30)
def sweep_point(sweep_id: int) -> None:
    """One point of a sweep, then the lane's next turn (strategies.backtests.sweep_step)."""
    sweep_step(sweep_id=sweep_id, enqueue=sweep_lane)
