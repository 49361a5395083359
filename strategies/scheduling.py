"""The beat tick: find strategies due within the lead, claim them, create one execution per slot, send on commit.

One celery-beat entry calls `strategies_tick` every second. Any number of ticks may race (two
beats by mistake, a slow tick overlapping the next): rows are claimed with
`select_for_update(skip_locked=True)` and the execution is unique per (strategy, scheduled_for),
so a slot runs at most once. `next_run_at` moves forward from the slot, not from now, so runs
stay on their grid; slots missed while nothing ticked are recorded as skipped, never replayed.
Runs are sent SCHEDULE_LEAD_MS ahead of their slot, with it as the message's ETA, grouped by the worker that owns
their version (`route`) and by grain of slots; they are claimed at the slot, where whether the previous cycle
still runs is decided (strategies.cycle.rows.executions_claim). A strategy whose last cycle ran
`SLOW_CYCLE_SECONDS` or longer is enqueued on the slow lane, which workers of its own serve, so slow cycles never
take the slots the quick ones need."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from strategies.models import Execution, Mode, Strategy
from trading.killswitch import kill_switch_engaged

TICK_BATCH = 500
MAX_SKIPPED_ROWS = 10  # per strategy and tick: a long outage is summarised, not written slot by slot

# A message's executions run side by side (strategies.execution_cycles), so a slow one delays none
# of the others; the broker's and Celery's cost of a message, its claim and its end are shared by them.
CYCLES_PER_MESSAGE = 8

Enqueue = Callable[[int], object]


@dataclass(frozen=True)
class CycleMessage:
    """Runs of one grain of slots for one worker: sent ahead, started at `eta` (their latest slot), never before."""

    execution_ids: list[int]
    eta: datetime
    queue: str | None  # the owning worker's queue; None: the shared queue (any worker, a cold run)
    slow: bool = False  # on the slow lane (`queue` is then None)


Send = Callable[[CycleMessage], object]
Route = Callable[[str], str | None]

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
                    batch: int = TICK_BATCH, send: Send | None = None, route: Route | None = None,
                    lead: timedelta | None = None) -> int:
    """Claim strategies due now or within `lead` (SCHEDULE_LEAD_MS) and enqueue their cycles; returns how many.

    `send`, when given, is sent every new execution in `CycleMessage`s: the runs of one grain of slots
    (SCHEDULE_GRAIN_MS) for one worker, `route(version key)` naming the worker's queue (None: the shared queue),
    the slow ones one a message on the slow lane; each message is started at its latest slot. Without `send`, each
    goes to `enqueue` (or `enqueue_slow` when slow) by id. The runs are claimed at their slot, not here: whether the
    previous cycle still runs is decided then (strategies.cycle.rows.executions_claim)."""
    now = now or timezone.now()
    lead = timedelta(milliseconds=settings.SCHEDULE_LEAD_MS) if lead is None else lead
    slow_ms = settings.SLOW_CYCLE_SECONDS * 1000
    with transaction.atomic():
        due_now = strategies_due(now + lead)
        if kill_switch_engaged():  # live strategies are paused by it; this also covers KILL_SWITCH set at start
            due_now = due_now.exclude(mode=Mode.LIVE)
        due = list(due_now.select_for_update(skip_locked=True, of=("self",))[:batch])
        slots: list[Execution] = []
        for strategy in due:
            assert strategy.next_run_at is not None and strategy.running_version_id is not None
            interval = timedelta(seconds=strategy.polling_interval)
            missed = max(0, int((now - strategy.next_run_at) / interval))  # whole intervals nobody ticked
            slot = strategy.next_run_at + missed * interval
            for index in range(max(0, missed - MAX_SKIPPED_ROWS), missed):
                _skip(strategy, strategy.next_run_at + index * interval, "missed: the scheduler was not ticking", now)
            strategy.next_run_at = slot + interval
            slots.append(Execution(
                strategy=strategy, version_id=strategy.running_version_id,
                trigger=Execution.Trigger.SCHEDULED, mode=strategy.mode, scheduled_for=slot,
            ))
        _next_runs_save(due)
        created = _create_slots(slots)
        lane_on = enqueue_slow is not None or send is not None
        slow_ids = {execution.pk for execution in created
                    if lane_on and slow_ms > 0 and execution.strategy.last_cycle_ms >= slow_ms}
        slow = [execution for execution in created if execution.pk in slow_ids]
        quick = [execution for execution in created if execution.pk not in slow_ids]
        if send is None:
            for execution in slow:
                assert enqueue_slow is not None
                transaction.on_commit(partial(enqueue_slow, execution.pk))
            for execution in quick:
                transaction.on_commit(partial(enqueue, execution.pk))
        else:
            for message in cycle_messages(quick, slow, route=route or (lambda key: None)):
                transaction.on_commit(partial(send, message))
    return len(created)


# One UPDATE for the whole batch, the new times as one JSON document: `bulk_update` built a CASE WHEN of an expression
# per strategy, about half of the tick's CPU (0.1 ms a run in the pool process, issue 23).
_NEXT_RUNS_SQL = """
UPDATE strategies_strategy AS s SET next_run_at = t.next_run_at
FROM json_to_recordset(%(due)s::json) AS t(id bigint, next_run_at timestamptz)
WHERE s.id = t.id
"""


def _next_runs_save(due: list[Strategy]) -> None:
    if not due:
        return
    rows = [{"id": strategy.pk, "next_run_at": strategy.next_run_at.isoformat()} for strategy in due
            if strategy.next_run_at is not None]
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_RUNS_SQL, {"due": json.dumps(rows)})


def version_key(execution: Execution) -> str:
    """What the ring routes on: the strategy version a run runs (one warm session each)."""
    return str(execution.version_id)


def cycle_messages(quick: list[Execution], slow: list[Execution], *, route: Route) -> list[CycleMessage]:
    """Group a tick's runs: by owning worker and grain of slots, at most CYCLES_PER_MESSAGE a message, in slot order;
    the slow ones alone on the slow lane."""
    grain = timedelta(milliseconds=settings.SCHEDULE_GRAIN_MS)
    open_groups: dict[str | None, list[Execution]] = {}  # per worker, the runs within one grain of the first
    groups: list[tuple[str | None, list[Execution]]] = []
    for execution in sorted(quick, key=lambda run: (run.scheduled_for, run.pk)):
        queue = route(version_key(execution))
        group = open_groups.get(queue)
        if (group is None or len(group) == CYCLES_PER_MESSAGE
                or execution.scheduled_for - group[0].scheduled_for >= max(grain, timedelta(microseconds=1))):
            group = open_groups[queue] = []
            groups.append((queue, group))
        group.append(execution)
    messages = [CycleMessage([execution.pk], execution.scheduled_for, None, slow=True)
                for execution in sorted(slow, key=lambda run: (run.scheduled_for, run.pk))]
    messages += [CycleMessage([run.pk for run in runs], runs[-1].scheduled_for, queue) for queue, runs in groups]
    return sorted(messages, key=lambda message: message.eta)


def _create_slots(slots: list[Execution]) -> list[Execution]:
    """Insert the batch's executions in one statement; if any slot already exists, fall back to one
    savepoint per slot so only the existing ones are left out. Returns the executions created."""
    if not slots:
        return []
    try:
        with transaction.atomic():  # a savepoint: a conflict must not abort the tick
            return _slots_insert(slots)
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


# The batch's executions in one INSERT over a JSON document: `bulk_create` prepared every field of every row through
# the ORM, half of what was left of the tick's CPU (issue 23). The columns a new scheduled run does not set are
# written as the model's defaults would be; a tick has one slot a strategy, so a new row is found by its strategy.
_SLOTS_SQL = """
INSERT INTO strategies_execution (strategy_id, version_id, trigger, mode, status, scheduled_for, started_at,
    finished_at, worker, entries, exits, error, state_after, created_at)
SELECT t.strategy_id, t.version_id, %(trigger)s, t.mode, %(status)s, t.scheduled_for, NULL, NULL, '', 0, 0, '', NULL,
    %(created_at)s
FROM json_to_recordset(%(slots)s::json)
    AS t(strategy_id bigint, version_id bigint, mode text, scheduled_for timestamptz)
RETURNING id, strategy_id
"""


def _slots_insert(slots: list[Execution]) -> list[Execution]:
    created_at = timezone.now()
    rows = [{"strategy_id": slot.strategy_id, "version_id": slot.version_id, "mode": slot.mode,
             "scheduled_for": slot.scheduled_for.isoformat()} for slot in slots]
    with connection.cursor() as cursor:
        cursor.execute(_SLOTS_SQL, {"trigger": Execution.Trigger.SCHEDULED, "status": Execution.Status.QUEUED,
                                    "created_at": created_at, "slots": json.dumps(rows)})
        ids = {strategy_id: pk for pk, strategy_id in cursor.fetchall()}
    for slot in slots:
        slot.pk, slot.created_at = ids[slot.strategy_id], created_at
        slot._state.adding, slot._state.db = False, connection.alias
    return slots
