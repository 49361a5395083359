"""The beat tick: due strategies run once per slot, on their grid, never overlapping, never silently dropped."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from strategies.cycle.run import execution_start
from strategies.models import Execution, Strategy
from strategies.scheduling import CycleMessage, strategies_tick
from strategies.services import strategy_deploy, strategy_enable, strategy_pause, strategy_version_create
from tests.conftest import example_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(alice, staff) -> Strategy:
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff).strategy
    strategy.refresh_from_db()
    return strategy


def tick(capture, now) -> list[int]:
    enqueued: list[int] = []
    with capture(execute=True):
        strategies_tick(enqueue=enqueued.append, now=now)
    return enqueued


def test_a_due_strategy_gets_one_queued_execution_at_its_slot(approved, django_capture_on_commit_callbacks) -> None:
    slot = approved.next_run_at
    enqueued = tick(django_capture_on_commit_callbacks, slot + timedelta(milliseconds=300))
    execution = Execution.objects.get()
    assert enqueued == [execution.pk]
    assert (execution.status, execution.trigger, execution.scheduled_for) == ("queued", "scheduled", slot)
    approved.refresh_from_db()
    assert approved.next_run_at == slot + timedelta(seconds=approved.polling_interval)  # on the grid, not from now
    assert tick(django_capture_on_commit_callbacks, slot + timedelta(seconds=1)) == []  # the next tick: nothing due


def test_nothing_is_enqueued_before_the_transaction_commits(approved, django_capture_on_commit_callbacks) -> None:
    enqueued: list[int] = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        strategies_tick(enqueue=enqueued.append, now=approved.next_run_at)
    assert enqueued == [] and len(callbacks) == 1


@pytest.mark.parametrize(
    "change",
    [{"enabled": False}, {"running_version": None}, {"mode": "backtest"}, {"next_run_at": None}],
)
def test_only_enabled_approved_paper_or_live_strategies_are_scheduled(
    approved, django_capture_on_commit_callbacks, change
) -> None:
    now = approved.next_run_at
    Strategy.objects.filter(pk=approved.pk).update(**change)
    assert tick(django_capture_on_commit_callbacks, now) == []
    assert Execution.objects.count() == 0


def test_a_slot_already_created_is_not_created_again(approved, django_capture_on_commit_callbacks) -> None:
    slot = approved.next_run_at
    tick(django_capture_on_commit_callbacks, slot)
    Execution.objects.update(status="succeeded", started_at=slot, finished_at=slot)
    Strategy.objects.filter(pk=approved.pk).update(next_run_at=slot)  # as if a second beat read the old value
    assert tick(django_capture_on_commit_callbacks, slot) == []
    assert Execution.objects.filter(scheduled_for=slot).count() == 1


def test_the_tick_leaves_the_previous_cycle_rule_to_the_claim(approved, django_capture_on_commit_callbacks) -> None:
    slot = approved.next_run_at
    tick(django_capture_on_commit_callbacks, slot)  # queued, never started: still active
    later = slot + timedelta(seconds=approved.polling_interval)
    [queued] = tick(django_capture_on_commit_callbacks, later)  # sent ahead: whether it overlaps is known at its slot
    assert Execution.objects.get(pk=queued).status == "queued"


def test_a_slot_within_the_lead_is_enqueued_ahead_and_one_further_is_not(
        approved, settings, django_capture_on_commit_callbacks) -> None:
    settings.SCHEDULE_LEAD_MS = 1000
    slot = approved.next_run_at
    assert tick(django_capture_on_commit_callbacks, slot - timedelta(milliseconds=1500)) == []
    [ahead] = tick(django_capture_on_commit_callbacks, slot - timedelta(milliseconds=900))
    assert Execution.objects.get(pk=ahead).scheduled_for == slot  # its slot, not the tick's time


def test_missed_slots_are_recorded_as_skipped_without_a_catch_up_storm(
    approved, django_capture_on_commit_callbacks
) -> None:
    slot, interval = approved.next_run_at, timedelta(seconds=approved.polling_interval)
    now = slot + 3 * interval + timedelta(seconds=1)
    assert len(tick(django_capture_on_commit_callbacks, now)) == 1  # one run, not four
    statuses = list(Execution.objects.order_by("scheduled_for").values_list("scheduled_for", "status"))
    assert statuses == [(slot, "skipped"), (slot + interval, "skipped"), (slot + 2 * interval, "skipped"),
                        (slot + 3 * interval, "queued")]
    approved.refresh_from_db()
    assert approved.next_run_at == slot + 4 * interval


def test_pause_stops_scheduling_and_enable_restarts_within_one_interval(
    approved, django_capture_on_commit_callbacks
) -> None:
    strategy_pause(strategy=approved, reason="reviewing a loss")
    assert tick(django_capture_on_commit_callbacks, approved.next_run_at + timedelta(hours=1)) == []
    before = timezone.now()
    enabled = strategy_enable(strategy=approved)
    assert enabled.enabled and enabled.paused_reason == ""
    assert enabled.next_run_at is not None
    assert before <= enabled.next_run_at <= before + timedelta(seconds=approved.polling_interval)


QUIET = {"entry.py": "def should_enter(ctx):\n    ctx.log('tick')\n    return []\n",
         "exit.py": "def should_exit(ctx, position):\n    return None\n"}


@pytest.fixture
def quiet(alice, staff) -> Strategy:
    files = {**example_files("kalshi_favourite_longshot"), **QUIET}
    strategy = strategy_deploy(owner=alice, files=files, approve_by=staff).strategy
    strategy.refresh_from_db()
    return strategy


def test_a_scheduled_execution_runs_once_however_often_it_is_delivered(
    quiet, django_capture_on_commit_callbacks
) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    first = execution_start(execution_id=execution_id)
    assert first is not None and first.status == "succeeded"
    assert [line.message for line in first.logs.exclude(level="system")] == ["tick"]
    assert execution_start(execution_id=execution_id) is None  # a redelivered task finds it claimed
    assert Execution.objects.get(pk=execution_id).logs.exclude(level="system").count() == 1
    quiet.refresh_from_db()
    assert (quiet.runs_total, quiet.runs_succeeded) == (1, 1)


def test_a_run_for_a_strategy_paused_since_it_was_queued_is_skipped(quiet, django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    strategy_pause(strategy=quiet)
    execution = execution_start(execution_id=execution_id)
    assert execution is not None
    assert (execution.status, execution.error) == ("skipped", f"skipped: strategy {quiet.pk} was paused after this run was scheduled")
    quiet.refresh_from_db()
    assert quiet.runs_total == 0  # a skipped slot is not a run


def test_a_run_queued_before_a_new_version_runs_the_approved_one(quiet, alice,
                                                                 django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    files = {**example_files("kalshi_favourite_longshot"), **QUIET, "exit.py": "def should_exit(ctx, p):\n    return None\n"}
    strategy_version_create(strategy=quiet, owner=alice, files=files)
    execution = execution_start(execution_id=execution_id)
    assert execution is not None and execution.status == "succeeded"  # the new version waits for review
    assert execution.version.number == 1


def test_a_strategy_whose_last_cycle_was_slow_is_enqueued_on_the_slow_lane(
        quiet, settings, django_capture_on_commit_callbacks) -> None:
    settings.SLOW_CYCLE_SECONDS = 2
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    started = execution_start(execution_id=execution_id)
    assert started is not None and started.duration_ms is not None
    quiet.refresh_from_db()
    assert quiet.last_cycle_ms == started.duration_ms < 2000  # every run that ran records how long it took

    lanes: dict[str, list[int]] = {"quick": [], "slow": []}
    for last_cycle_ms, lane in ((1999, "quick"), (2000, "slow"), (35000, "slow"), (0, "quick")):
        Strategy.objects.filter(pk=quiet.pk).update(last_cycle_ms=last_cycle_ms)
        Execution.objects.filter(strategy=quiet, status="queued").update(status="skipped", finished_at=timezone.now(),
                                                                        error="skipped: not under test")
        quiet.refresh_from_db()
        assert quiet.next_run_at is not None
        with django_capture_on_commit_callbacks(execute=True):
            strategies_tick(enqueue=lanes["quick"].append, enqueue_slow=lanes["slow"].append, now=quiet.next_run_at)
        assert Execution.objects.filter(strategy=quiet, status="queued").get().pk in lanes[lane], last_cycle_ms
    assert (len(lanes["quick"]), len(lanes["slow"])) == (2, 2)

    settings.SLOW_CYCLE_SECONDS = 0  # no slow lane: everything on the one queue
    Strategy.objects.filter(pk=quiet.pk).update(last_cycle_ms=35000)
    Execution.objects.filter(strategy=quiet, status="queued").update(status="skipped", finished_at=timezone.now(),
                                                                    error="skipped: not under test")
    quiet.refresh_from_db()
    assert quiet.next_run_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        strategies_tick(enqueue=lanes["quick"].append, enqueue_slow=lanes["slow"].append, now=quiet.next_run_at)
    assert (len(lanes["quick"]), len(lanes["slow"])) == (3, 2)


def test_one_tick_moves_every_due_strategy_onto_its_own_next_slot(
        alice, staff, django_capture_on_commit_callbacks) -> None:
    """The tick writes the batch's next slots in one hand-written statement (issue 23): each strategy gets its own,
    on its own grid, to the microsecond, and a strategy not due keeps its own."""
    strategies = []
    for index, interval in enumerate((7, 60, 3600)):
        files = example_files("kalshi_favourite_longshot")
        config = json.loads(files["config.json"])
        files["config.json"] = json.dumps({**config, "name": f"grid {index}", "polling_interval": interval})
        strategies.append(strategy_deploy(owner=alice, files=files, approve_by=staff).strategy)
    now = timezone.now()
    slots = [now - timedelta(microseconds=123457 * (index + 1)) for index in range(2)] + [now + timedelta(hours=1)]
    for strategy, slot in zip(strategies, slots, strict=True):
        Strategy.objects.filter(pk=strategy.pk).update(next_run_at=slot)
    messages: list[CycleMessage] = []
    with django_capture_on_commit_callbacks(execute=True):
        strategies_tick(enqueue=lambda pk: None, send=messages.append, now=now, route=lambda key: f"worker of {key}")
    # Each run goes to the worker its own version is routed to (the new rows' ids matched to the right runs).
    enqueued = [pk for message in messages for pk in message.execution_ids]
    assert sorted((f"worker of {run.version_id}", run.pk) for run in Execution.objects.filter(pk__in=enqueued)) == (
        sorted((message.queue, pk) for message in messages for pk in message.execution_ids))
    moved = [Strategy.objects.get(pk=strategy.pk).next_run_at for strategy in strategies]
    assert moved == [slots[0] + timedelta(seconds=7), slots[1] + timedelta(seconds=60), slots[2]]
    # Its executions, inserted by one hand-written statement too: each the row the ORM would have written, and each
    # id enqueued is its own strategy's run.
    runs = {run.strategy_id: run for run in Execution.objects.filter(pk__in=enqueued)}
    assert sorted(runs) == sorted(strategy.pk for strategy in strategies[:2]) and len(enqueued) == 2
    for strategy, slot in zip(strategies[:2], slots, strict=False):
        run = runs[strategy.pk]
        assert (run.version_id, run.trigger, run.mode, run.status, run.scheduled_for) == (
            strategy.running_version_id, "scheduled", "paper", "queued", slot)
        assert (run.started_at, run.finished_at, run.worker, run.entries, run.exits, run.error, run.state_after) == (
            None, None, "", 0, 0, "", None)
        assert now <= run.created_at <= timezone.now()
