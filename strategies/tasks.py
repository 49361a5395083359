"""Celery tasks: thin, they load and call a service."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from celery import Task, shared_task
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from strategies.backtests import backtest_execute, backtests_recover, sweep_step
from strategies.cycle.reconciliation import live_reconcile_all
from strategies.cycle.recovery import execution_recover
from strategies.cycle.recovery import executions_recover as recover
from strategies.cycle.rows import Claim, EndBatch, ends_together
from strategies.cycle.run import (
    CycleNotStarted,
    execution_run,
    execution_run_claimed,
    execution_start,
    executions_claim_due,
    sandbox_prestart,
    source_files_prefetch,
)
from strategies.models import Execution
from strategies.scheduling import CYCLES_PER_MESSAGE, CycleMessage
from strategies.scheduling import strategies_tick as tick
from strategies.services import strategies_pause_live, test_run_slot_release
from strategyhub.lib.cycle_workers import CycleWorkerHeartbeat, cycle_worker_queue, cycle_workers_live
from strategyhub.lib.hashring import HashRing
from trading.venue_accounts import venue_client_for

logger = logging.getLogger(__name__)


@shared_task(name="strategies.tick", ignore_result=True)
def strategies_tick() -> int:
    """The one beat entry: claim strategies due within SCHEDULE_LEAD_MS and send their cycles ahead, each to the
    live worker that owns its version (slow ones on the slow lane), a few to a message."""
    return tick(enqueue=execution_cycle.delay, send=_send, route=HashRing(_live_workers()).owner)


def _live_workers() -> list[str]:
    try:
        return cycle_workers_live()
    except Exception:  # Redis restarting: every run goes to the shared queue meanwhile (cold)
        logger.warning("the live cycle workers could not be read: the shared queue takes every run", exc_info=True)
        return []


def _send(message: CycleMessage) -> None:
    queue = settings.CELERY_SLOW_QUEUE if message.slow and settings.SLOW_CYCLE_SECONDS else message.queue
    execution_cycles.apply_async((message.execution_ids,), eta=message.eta,
                                 queue=queue or settings.CELERY_TASK_DEFAULT_QUEUE)


def _execution_run_once(execution_id: int) -> None:
    if execution_start(execution_id=execution_id) is None:
        execution_recover(execution_id)


@shared_task(name="strategies.execution_cycle", acks_late=True, ignore_result=True)
def execution_cycle(execution_id: int) -> None:
    """Run a queued execution now (the recovery sweep re-sends a run this way, long after its slot). A redelivered
    task finds it already claimed: it does nothing, or, when the worker that claimed it was lost, fails it and
    settles its orders (never a second order)."""
    _execution_run_once(execution_id)


class _CycleThreads:
    """This process's threads for the runs of one message (at most CYCLES_PER_MESSAGE at a time).
    Each thread keeps its own database connection; it is checked before and after every run, as Celery
    does for a task's, so a connection Postgres dropped is replaced, not reused."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def map(self, work: list[Callable[[], object]]) -> None:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # a forked pool process makes its own
                self._pool = ThreadPoolExecutor(max_workers=CYCLES_PER_MESSAGE, thread_name_prefix="cycle")
                self._pid = os.getpid()
            pool = self._pool
        for future in [pool.submit(self._run, one) for one in work]:
            future.result()

    @staticmethod
    def _run(work: Callable[[], object]) -> None:
        close_old_connections()
        try:
            work()
        except Exception:  # one run's failure in the worker must not stop the message's others
            logger.exception("a run failed in the worker")
        finally:
            close_old_connections()


_cycle_threads = _CycleThreads()


def _run_in_batch(claim: Claim, batch: EndBatch) -> None:
    with ends_together(batch, claim.execution.pk):
        execution_run_claimed(claim)


@shared_task(name="strategies.execution_cycles", bind=True, acks_late=True, ignore_result=True)
def execution_cycles(self: Task[[list[int]], None], execution_ids: list[int]) -> None:
    """The runs of one grain of slots for this worker, sent ahead of their slot with it as the ETA: one statement
    claims those due (never one before its slot), the runs go side by side, each on a thread of its own, so a slow
    one delays none of the others, and the ends that come together are written in one statement.

    Delivered late, twice, or again after its worker was lost, each run is handled as `execution_cycle` handles its
    one: a finished run is left alone, a run the lost worker claimed is failed and its orders settled, a run never
    claimed runs now (or is skipped, when past its interval or while its strategy's previous cycle runs)."""
    _wait_for_slot(self.request.eta)
    claimed = executions_claim_due(execution_ids=execution_ids)
    taken = {claim.execution.pk for claim in claimed.runs} | {execution.pk for execution, _ in claimed.skipped}
    others = [execution_id for execution_id in execution_ids if execution_id not in taken]
    source_files_prefetch(claimed.runs)
    if self.request.is_eager or len(claimed.runs) + len(others) <= 1:  # eager (tests): the caller's connection
        for claim in claimed.runs:
            execution_run_claimed(claim)
        for execution_id in others:
            execution_recover(execution_id)
        return
    batch = EndBatch([claim.execution.pk for claim in claimed.runs])
    _cycle_threads.map([*[partial(_run_in_batch, claim, batch) for claim in claimed.runs],
                        *[partial(execution_recover, execution_id) for execution_id in others]])


def _wait_for_slot(eta: object) -> None:
    """The worker's timer may hand an ETA task over a little early: its runs are claimed at their slot, never before."""
    if not isinstance(eta, str | datetime):
        return
    at = datetime.fromisoformat(eta) if isinstance(eta, str) else eta
    wait = (at - timezone.now()).total_seconds() if at.tzinfo else 0.0
    if 0 < wait <= (settings.SCHEDULE_LEAD_MS + settings.SCHEDULE_GRAIN_MS) / 1000 + 1:
        time.sleep(wait)


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


_own_queue: list[CycleWorkerHeartbeat] = []  # this worker's queue and its heartbeat, when it serves the main queue


@celeryd_after_setup.connect
def _on_worker_setup(sender: str, instance: Any, **kwargs: object) -> None:
    """A worker of the main queue also consumes a queue of its own, where the tick routes the strategies it owns."""
    queues = instance.app.amqp.queues
    if settings.CELERY_TASK_DEFAULT_QUEUE in queues.consume_from:  # not worker-slow
        heartbeat = CycleWorkerHeartbeat(cycle_worker_queue(sender))
        queues.select_add(heartbeat.queue)
        _own_queue.append(heartbeat)


@worker_process_init.connect
def _on_pool_process_start(**kwargs: object) -> None:
    """Each pool process starts its sandbox's zygote as it starts: the first cycles routed to it then find it up (in
    the 1,000-strategy benchmark the first two seconds of slots started 210-394 ms late, the rest 32-39 ms)."""
    try:
        sandbox_prestart()
    except Exception:  # the first cycle starts it then, and says why if it cannot
        logger.exception("could not start the sandbox ahead")


@worker_ready.connect
def _on_worker_ready(**kwargs: object) -> None:
    for heartbeat in _own_queue:
        heartbeat.start()  # only now: before it consumes, no run may be routed to it
    worker_started.delay()


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: object) -> None:
    for heartbeat in _own_queue:
        heartbeat.stop()  # routed elsewhere from the next tick; what its queue still holds is recovered


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
