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
from strategies.rules import cycles_in_flight
from trading.killswitch import kill_switch_engaged

TICK_BATCH = 500
MAX_SKIPPED_ROWS = 10  # per strategy and tick: a long outage is summarised, not written slot by slot

# A message's executions run side by side (strategies.execution_cycles), so a slow one delays none
# of the others; the broker's and Celery's cost of a message is shared by them.
CYCLES_PER_MESSAGE = 4

Enqueue = Callable[[int], object]
EnqueueMany = Callable[[list[int]], object]


def strategies_schedulable() -> QuerySet[Strategy]:
    """Enabled, with an approved version to run, paper or live, not paused: the partial index's rows. A newer
    version waiting for approval does not stop it: its cycles run `running_version`."""
    return Strategy.objects.filter(
        enabled=True, running_version__isnull=False, mode__in=[Mode.PAPER, Mode.LIVE], next_run_at__isnull=False
    )


def strategies_due(now: datetime) -> QuerySet[Strategy]:
    return strategies_schedulable().filter(next_run_at__lte=now).order_by("next_run_at")


def _skip(strategy: Strategy, slot: datetime, reason: str, now: datetime) -> None:
    assert strategy.running_version_id is not None  # schedulable strategies have one
    try:
        with transaction.atomic():  # a savepoint: an already-recorded slot must not abort the tick
            Execution.objects.create(
                strategy=strategy, version_id=strategy.running_version_id, trigger=Execution.Trigger.SCHEDULED,
                mode=strategy.mode, status=Execution.Status.SKIPPED, scheduled_for=slot, finished_at=now, error=reason,
            )
    except IntegrityError:
        pass


def strategies_tick(*, enqueue: Enqueue, enqueue_slow: Enqueue | None = None, now: datetime | None = None,
                    batch: int = TICK_BATCH, enqueue_many: EnqueueMany | None = None) -> int:
    """Claim due strategies and enqueue their cycles; returns how many cycles were enqueued.

    The slow ones go one by one to `enqueue_slow`, when given (the slow lane). `enqueue_many`, when given,
    is sent the other new executions' ids in groups of up to CYCLES_PER_MESSAGE instead of one `enqueue`
    each: one broker message (and one Celery task) per group."""
    now = now or timezone.now()
    slow_ms = settings.SLOW_CYCLE_SECONDS * 1000
    with transaction.atomic():
        due_now = strategies_due(now)
        if kill_switch_engaged():  # live strategies are paused by it; this also covers KILL_SWITCH set at start
            due_now = due_now.exclude(mode=Mode.LIVE)
        due = list(due_now.select_for_update(skip_locked=True, of=("self",))[:batch])
        busy = set(cycles_in_flight(due).values_list("strategy_id", flat=True))
        slots: list[Execution] = []
        for strategy in due:
            assert strategy.next_run_at is not None and strategy.running_version_id is not None
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
                strategy=strategy, version_id=strategy.running_version_id,
                trigger=Execution.Trigger.SCHEDULED, mode=strategy.mode, scheduled_for=slot,
            ))
        Strategy.objects.bulk_update(due, ["next_run_at"])  # one UPDATE for the whole batch
        created, quick = _create_slots(slots), []
        for execution in created:
            if enqueue_slow is not None and slow_ms > 0 and execution.strategy.last_cycle_ms >= slow_ms:
                transaction.on_commit(partial(enqueue_slow, execution.pk))
            else:
                quick.append(execution.pk)
        if enqueue_many is None:
            for execution_id in quick:
                transaction.on_commit(partial(enqueue, execution_id))
        else:
            for start in range(0, len(quick), CYCLES_PER_MESSAGE):
                transaction.on_commit(partial(enqueue_many, quick[start : start + CYCLES_PER_MESSAGE]))
        enqueued = len(created)
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
