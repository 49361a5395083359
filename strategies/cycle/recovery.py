"""Runs whose worker or queue was lost: found, finished with the reason, their orders settled.

A cycle's task is acknowledged late, so a worker killed mid-cycle leaves its execution `running`
and its message is delivered again after the broker's visibility timeout; Redis without
persistence loses `queued` messages when it restarts. Nothing here re-runs a script: a slot whose
run was lost is recorded as failed or skipped, saying why, and the next slot runs as usual.

- `running` for longer than any cycle may (the task's hard time limit plus a margin), or claimed
  by a process of this host that no longer exists (`Execution.worker` is host:pid, the host named by
  hostname, boot id and PID namespace, so a twin hostname elsewhere is never judged here): the worker
  is gone. The execution fails, and its orders are settled (`trading.reconcile`) so a retry can
  never place them twice.
- `queued` past its own interval: it can no longer start in time, so it is skipped, which also
  lets the strategy's next slot run (slots never overlap).
- `queued` for `SCHEDULE_RESEND_SECONDS` but still inside its interval: the message is sent again.
  Harmless if the first one still exists: a run is claimed once (`execution_start`).

`executions_recover` runs from beat every few seconds and when a worker starts; a redelivered
cycle task recovers its own execution directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from strategies.cycle.reconciliation import execution_orders_recover
from strategies.cycle.rows import execution_finish
from strategies.events import execution_broadcast
from strategies.models import Execution, ExecutionLog, Strategy
from strategyhub.lib.workers import process_gone
from trading.venue_accounts import venue_client_for

logger = logging.getLogger(__name__)

SHORTEST_INTERVAL = 5  # seconds: the least polling_interval the config schema allows
LOST = "the worker running this cycle was lost (killed or restarted) before it finished"


@dataclass(frozen=True)
class Recovered:
    failed: int = 0
    skipped: int = 0
    resent: int = 0


def stale_before(now: datetime) -> datetime:
    """A run started before this cannot still be running: the task's hard time limit would have ended it."""
    return now - timedelta(seconds=settings.EXECUTION_STALE_SECONDS)


def execution_lost(execution: Execution, now: datetime) -> bool:
    if execution.status != Execution.Status.RUNNING or execution.started_at is None:
        return False
    return execution.started_at < stale_before(now) or process_gone(execution.worker)


def execution_recover(execution_id: int, *, now: datetime | None = None) -> bool:
    """Settle the orders of a lost `running` execution, then fail it; False when it was not lost.

    Orders first: if this is interrupted too, the run is still `running` and the next sweep
    settles again (settling is idempotent: same client order ids, fills recorded once).
    """
    now = now or timezone.now()
    execution = Execution.objects.select_related("strategy").filter(pk=execution_id).first()
    if execution is None or not execution_lost(execution, now):
        return False
    lines = [f"{LOST}; its orders are settled with the venue, never placed again"]
    owner_id = execution.strategy.owner_id  # its live orders are looked up on the owner's own account
    lines += execution_orders_recover(execution_id, client_factory=lambda venue: venue_client_for(
        owner_id=owner_id, venue=venue, live=True))
    with transaction.atomic():
        if not Execution.objects.select_for_update().filter(pk=execution_id, status=Execution.Status.RUNNING).exists():
            return False  # another sweep finished it meanwhile
        first = (execution.logs.aggregate(last=Max("seq"))["last"] or 0) + 1
        logs = ExecutionLog.objects.bulk_create(
            ExecutionLog(execution=execution, seq=seq, ts=timezone.now(), level="warning", message=line)
            for seq, line in enumerate(lines, start=first))
        execution_finish(execution, status=Execution.Status.FAILED, error=f"failed: {LOST}", timed=False)
        transaction.on_commit(lambda: execution_broadcast(execution, logs, []))
    logger.warning("execution %s: %s", execution_id, LOST)
    return True


def executions_recover(*, enqueue: Callable[[int], object], now: datetime | None = None) -> Recovered:
    """Find every lost run (see the module docstring) and deal with it."""
    now = now or timezone.now()
    running = Execution.objects.filter(status=Execution.Status.RUNNING).only("pk", "status", "started_at", "worker")
    failed = sum(execution_recover(execution.pk, now=now) for execution in running[:1000]
                 if execution_lost(execution, now))
    skipped = resent = 0
    resend_after = timedelta(seconds=settings.SCHEDULE_RESEND_SECONDS)
    # From the shortest interval a strategy may have on: a lost run must not hold up a 5-second strategy for 30 s.
    waiting = (Execution.objects.filter(status=Execution.Status.QUEUED,
                                        scheduled_for__lt=now - timedelta(seconds=SHORTEST_INTERVAL))
               .select_related("strategy").order_by("scheduled_for")[:500])
    for execution in waiting:
        late = now - execution.scheduled_for
        if late <= timedelta(seconds=execution.strategy.polling_interval):
            if late >= resend_after:
                enqueue(execution.pk)
                resent += 1
            continue
        error = (f"skipped: never started; {late.total_seconds():.0f} s after its slot is past its "
                 f"{execution.strategy.polling_interval}-second interval (its task was lost, e.g. in a broker "
                 "restart, or every worker was busy)")
        if Execution.objects.filter(pk=execution.pk, status=Execution.Status.QUEUED).update(
                status=Execution.Status.SKIPPED, finished_at=now, error=error):
            execution.status, execution.finished_at, execution.error = Execution.Status.SKIPPED, now, error
            # Perhaps no worker serves its lane (no `worker-slow`): its next slot goes to the main queue.
            Strategy.objects.filter(pk=execution.strategy_id, last_cycle_ms__gt=0).update(last_cycle_ms=0)
            execution_broadcast(execution, [], [])
            skipped += 1
    if failed or skipped or resent:
        logger.warning("recovered runs: %s failed (worker lost), %s skipped (never started), %s re-sent",
                       failed, skipped, resent)
    return Recovered(failed, skipped, resent)
