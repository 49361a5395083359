"""The beat tick: find due strategies, claim them, create one execution per slot, enqueue on commit.

One celery-beat entry calls `strategies_tick` every second. Any number of ticks may race (two
beats by mistake, a slow tick overlapping the next): rows are claimed with
`select_for_update(skip_locked=True)` and the execution is unique per (strategy, scheduled_for),
so a slot runs at most once. `next_run_at` moves forward from the slot, not from now, so runs
stay on their grid; slots missed while nothing ticked are recorded as skipped, never replayed.
A strategy whose last cycle ran `SLOW_CYCLE_SECONDS` or longer is enqueued on the slow lane, which
workers of its own serve, so slow cycles never take the slots the quick ones need.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from strategies.models import Execution, Mode, Strategy
from trading.killswitch import kill_switch_engaged

TICK_BATCH = 500
MAX_SKIPPED_ROWS = 10  # per strategy and tick: a long outage is summarised, not written slot by slot

Enqueue = Callable[[int], object]


def strategies_schedulable() -> QuerySet[Strategy]:
    """Enabled, approved for its current version, paper or live, not paused: the partial index's rows."""
    return Strategy.objects.filter(
        enabled=True, status=Strategy.Status.APPROVED, mode__in=[Mode.PAPER, Mode.LIVE], next_run_at__isnull=False
    )


def strategies_due(now: datetime) -> QuerySet[Strategy]:
    return strategies_schedulable().filter(next_run_at__lte=now).order_by("next_run_at")


def _skip(strategy: Strategy, slot: datetime, reason: str, now: datetime) -> None:
    assert strategy.current_version_id is not None  # approved strategies always have one (a constraint)
    try:
        with transaction.atomic():  # a savepoint: an already-recorded slot must not abort the tick
            Execution.objects.create(
                strategy=strategy, version_id=strategy.current_version_id, trigger=Execution.Trigger.SCHEDULED,
                mode=strategy.mode, status=Execution.Status.SKIPPED, scheduled_for=slot, finished_at=now, error=reason,
            )
    except IntegrityError:
        pass


def strategies_tick(*, enqueue: Enqueue, enqueue_slow: Enqueue | None = None, now: datetime | None = None,
                    batch: int = TICK_BATCH) -> int:
    """Claim due strategies and enqueue their cycles (the slow ones with `enqueue_slow`, when given);
    returns how many cycles were enqueued."""
    now = now or timezone.now()
    slow_ms = settings.SLOW_CYCLE_SECONDS * 1000
    enqueued = 0
    with transaction.atomic():
        due_now = strategies_due(now)
        if kill_switch_engaged():  # live strategies are paused by it; this also covers KILL_SWITCH set at start
            due_now = due_now.exclude(mode=Mode.LIVE)
        due = list(due_now.select_for_update(skip_locked=True, of=("self",))[:batch])
        busy = set(
            Execution.objects.filter(strategy__in=due, status__in=Execution.ACTIVE)
            .exclude(trigger=Execution.Trigger.DRY_RUN).values_list("strategy_id", flat=True)
        )
        slots: list[Execution] = []
        for strategy in due:
            assert strategy.next_run_at is not None and strategy.current_version_id is not None
            interval = timedelta(seconds=strategy.polling_interval)
            missed = int((now - strategy.next_run_at) / interval)  # whole intervals nobody ticked
            slot = strategy.next_run_at + missed * interval
            for index in range(max(0, missed - MAX_SKIPPED_ROWS), missed):
                _skip(strategy, strategy.next_run_at + index * interval, "missed: the scheduler was not ticking", now)
            strategy.next_run_at = slot + interval
            if strategy.pk in busy:  # never overlap the previous cycle of the same strategy
                _skip(strategy, slot, "skipped: the previous cycle was still running", now)
                continue
            slots.append(Execution(
                strategy=strategy, version_id=strategy.current_version_id,
                trigger=Execution.Trigger.SCHEDULED, mode=strategy.mode, scheduled_for=slot,
            ))
        Strategy.objects.bulk_update(due, ["next_run_at"])  # one UPDATE for the whole batch
        for execution in _create_slots(slots):
            slow = slow_ms > 0 and execution.strategy.last_cycle_ms >= slow_ms
            transaction.on_commit(partial(enqueue_slow if slow and enqueue_slow else enqueue, execution.pk))
            enqueued += 1
    return enqueued


def _create_slots(slots: list[Execution]) -> list[Execution]:
    """Insert the batch's executions in one statement; if any slot already exists, fall back to one
    savepoint per slot so only the existing ones are left out. Returns the executions created."""
    if not slots:
        return []
    try:
        with transaction.atomic():  # a savepoint: a conflict must not abort the tick
            return Execution.objects.bulk_create(slots)
    except IntegrityError:
        pass
    created = []
    for slot in slots:
        try:
            with transaction.atomic():
                created.append(Execution.objects.create(
                    strategy=slot.strategy, version_id=slot.version_id, trigger=slot.trigger, mode=slot.mode,
                    scheduled_for=slot.scheduled_for,
                ))
        except IntegrityError:
            continue  # another tick already created this slot
    return created
