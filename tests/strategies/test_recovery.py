"""Runs whose worker or queued message was lost are found and finished with the reason; none is re-run,
none is dropped, and a late run gives way to the next slot (strategies/cycle/recovery.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from strategies.cycle.recovery import executions_recover
from strategies.cycle.run import CycleNotStarted, execution_run, execution_start
from strategies.models import Execution, Strategy
from strategyhub.lib.workers import worker_id
from tests.strategies.test_scheduling import quiet, tick
from trading.models import Order

pytestmark = pytest.mark.django_db
__all__ = ["quiet"]


def claim(execution_id: int, *, started_at, worker: str = "another-host:4242") -> None:
    """As a worker's claim leaves it (`execution_start`), on a process recovery cannot see."""
    Execution.objects.filter(pk=execution_id).update(status="running", started_at=started_at, worker=worker)


def test_a_run_whose_worker_vanished_fails_and_its_paper_order_keeps_only_recorded_fills(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    claim(execution_id, started_at=timezone.now())
    execution = Execution.objects.get(pk=execution_id)
    order = Order.objects.create(
        strategy=quiet, version=execution.version, execution=execution, signal_index=0, book="paper", venue="kalshi",
        market_id="KXSIMFED-26DEC31-T4.00", side="yes", action="open", client_order_id=f"sh-{quiet.pk}-{execution_id}-0-o",
        quantity=D(10), limit_price=D("0.55"), notional_usd=D("5.5"), status="submitted")
    enqueued: list[int] = []

    # Within the time any cycle may take, on another host: it may still be running. Nothing happens.
    assert executions_recover(enqueue=enqueued.append).failed == 0
    assert Execution.objects.get(pk=execution_id).status == "running"

    later = timezone.now() + timedelta(hours=1)  # past the task's hard time limit: the worker is gone
    with django_capture_on_commit_callbacks(execute=True):
        assert executions_recover(enqueue=enqueued.append, now=later).failed == 1
    execution.refresh_from_db()
    order.refresh_from_db()
    assert execution.status == "failed"
    assert execution.error == ("failed: the worker running this cycle was lost (killed or restarted) before it "
                               "finished")
    assert order.status == "cancelled"  # a paper order is immediate-or-cancel: nothing was filled, nothing stays open
    assert list(execution.logs.values_list("level", "message")) == [
        ("warning", "the worker running this cycle was lost (killed or restarted) before it finished; its orders are "
                    "settled with the venue, never placed again"),
        ("warning", f"order {order.client_order_id} (paper) recovered after the worker was lost: cancelled, "
                    "filled 0 of 10"),
    ]
    quiet.refresh_from_db()
    assert (quiet.runs_total, quiet.runs_failed) == (1, 1)
    assert executions_recover(enqueue=enqueued.append, now=later) == executions_recover(enqueue=enqueued.append)
    assert enqueued == []


def test_a_run_claimed_by_a_process_of_this_host_that_died_is_recovered_at_once(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    import subprocess

    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    process = subprocess.Popen(["true"])  # a process of this host that has exited
    process.wait()
    Strategy.objects.filter(pk=quiet.pk).update(last_cycle_ms=120)
    claim(execution_id, started_at=timezone.now() - timedelta(seconds=30), worker=worker_id(process.pid))
    assert executions_recover(enqueue=lambda pk: None).failed == 1
    assert Execution.objects.get(pk=execution_id).status == "failed"
    assert Strategy.objects.get(pk=quiet.pk).last_cycle_ms == 120  # a lost worker's 30 s are not the cycle's


def test_a_queued_run_whose_message_was_lost_is_sent_again_then_skipped_after_its_interval(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    slot = quiet.next_run_at
    assert slot is not None
    enqueued: list[int] = []
    assert executions_recover(enqueue=enqueued.append, now=slot + timedelta(seconds=5)).resent == 0  # young
    # 30 s later, still inside its 300-second interval: sent again (a run is claimed once, so this is safe).
    assert executions_recover(enqueue=enqueued.append, now=slot + timedelta(seconds=31)).resent == 1
    assert enqueued == [execution_id]
    # Past its interval it can no longer start in time: skipped, saying why, and the next slot may run.
    Strategy.objects.filter(pk=quiet.pk).update(last_cycle_ms=5000)  # a slow one, on the slow lane
    assert executions_recover(enqueue=enqueued.append, now=slot + timedelta(seconds=301)).skipped == 1
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "skipped"
    assert Strategy.objects.get(pk=quiet.pk).last_cycle_ms == 0  # its lane may have no worker: the main queue next
    assert execution.error == ("skipped: never started; 301 s after its slot is past its 300-second interval (its task "
                               "was lost, e.g. in a broker restart, or every worker was busy)")
    assert execution_start(execution_id=execution_id) is None  # the original message, arriving late, does nothing


def test_a_run_that_starts_later_than_its_interval_gives_way_to_the_next_slot(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    Execution.objects.filter(pk=execution_id).update(scheduled_for=timezone.now() - timedelta(seconds=375))
    execution = execution_start(execution_id=execution_id)
    assert execution is not None and execution.status == "skipped"
    assert execution.error.startswith("skipped: started 375.")
    assert execution.error.endswith("s after its slot, past its 300-second interval: the next slot runs instead "
                                    "(workers were saturated or stopped)")
    assert [line.message for line in execution.logs.all()] == [execution.error.replace("skipped: ", "run skipped: ")]


def test_run_now_is_refused_while_a_cycle_of_the_strategy_is_active(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    with pytest.raises(CycleNotStarted, match=f"already has a cycle queued .execution {execution_id}.; cycles of "
                                              "one strategy never overlap"):
        execution_run(strategy_id=quiet.pk, trigger="manual")
    assert execution_run(strategy_id=quiet.pk, trigger="manual", dry_run=True).status == "succeeded"  # a test run may


def test_a_lost_run_of_a_five_second_strategy_is_skipped_past_its_interval_not_after_thirty_seconds(
        quiet: Strategy, django_capture_on_commit_callbacks) -> None:
    Strategy.objects.filter(pk=quiet.pk).update(polling_interval=5)
    [execution_id] = tick(django_capture_on_commit_callbacks, quiet.next_run_at)
    slot = Execution.objects.get(pk=execution_id).scheduled_for
    assert executions_recover(enqueue=lambda pk: None, now=slot + timedelta(seconds=6)).skipped == 1
    assert Execution.objects.get(pk=execution_id).status == "skipped"  # the next slot is free to run
