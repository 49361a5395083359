"""A tick sends its executions a few to a message (`execution_cycles`), through a real Celery worker: a slow run
delays none of the others in its message, and a message whose worker was killed accounts for every run of
it when it is delivered again (finished runs left alone, the lost one failed, nothing run twice)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.scheduling import CycleMessage, strategies_tick
from strategies.tasks import execution_cycles
from tests.strategies.test_strategy_run import deploy
from tests.strategies.test_worker_killed import frozen_simulator, kill, start_worker, stop, venues, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["frozen_simulator", "venues", "worker_env"]

FAST = "def should_enter(ctx):\n    ctx.log('fast')\n    return []\n"


def slow(seconds: float) -> str:
    return f"import time\n\ndef should_enter(ctx):\n    ctx.log('slow')\n    time.sleep({seconds})\n    return []\n"


def one_message(alice, staff, entries: list[str]) -> list[int]:
    """Deploy one strategy per entry, all due now, and tick them into one message; returns its ids in order."""
    strategies = [deploy(alice, entry=entry, approve_by=staff, name=f"message {index}")
                  for index, entry in enumerate(entries)]
    due = timezone.now()
    for position, strategy in enumerate(strategies):  # oldest first, in one grain: the tick keeps this order
        Strategy.objects.filter(pk=strategy.pk).update(next_run_at=due - timedelta(milliseconds=10 * (10 - position)))
    messages: list[CycleMessage] = []
    strategies_tick(enqueue=lambda pk: None, send=messages.append, now=due, lead=timedelta(0))
    assert len(messages) == 1 and len(messages[0].execution_ids) == len(entries), messages
    return messages[0].execution_ids


def test_a_slow_run_delays_none_of_the_others_in_its_message(
        alice, staff, worker_env: dict[str, str], tmp_path: Path) -> None:
    ids = one_message(alice, staff, [slow(4), FAST, FAST, FAST])  # the slow one first: run in turn, it would hold all
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env, log)
    try:
        execution_cycles.apply_async(args=(ids,), queue=worker_env["CELERY_QUEUE"])
        wait_for(lambda: Execution.objects.filter(pk__in=ids, status="succeeded").count() == len(ids), seconds=90,
                 what=f"the message's runs to finish (worker log: {log.read_text()[-2000:]})")
    finally:
        stop(worker)
    runs = {run.pk: run for run in Execution.objects.filter(pk__in=ids)}
    held = runs[ids[0]]
    assert held.started_at is not None and held.finished_at is not None
    assert held.finished_at - held.started_at >= timedelta(seconds=4)
    for execution_id in ids[1:]:
        fast = runs[execution_id]
        assert fast.finished_at is not None
        assert fast.finished_at < held.started_at + timedelta(seconds=2), (fast.finished_at, held.started_at)
    assert {run.worker for run in runs.values()} == {held.worker}  # one message, one pool process


def test_a_message_whose_worker_was_killed_accounts_for_every_run_when_delivered_again(
        alice, staff, worker_env: dict[str, str], tmp_path: Path) -> None:
    ids = one_message(alice, staff, [slow(60), FAST])
    log = tmp_path / "worker.log"
    first = start_worker(worker_env, log)
    try:
        execution_cycles.apply_async(args=(ids,), queue=worker_env["CELERY_QUEUE"])
        wait_for(lambda: Execution.objects.get(pk=ids[1]).status == "succeeded"
                 and Execution.objects.get(pk=ids[0]).status == "running", seconds=60,
                 what=f"the fast run to finish beside the slow one (worker log: {log.read_text()[-2000:]})")
    finally:
        kill(first)
    fast_before = Execution.objects.get(pk=ids[1])

    second = start_worker(worker_env, log)  # the message, delivered again (acks_late, worker lost)
    try:
        wait_for(lambda: Execution.objects.get(pk=ids[0]).status != "running", seconds=60,
                 what=f"the redelivered message to settle the lost run (worker log: {log.read_text()[-2000:]})")
    finally:
        stop(second)
    lost, fast = Execution.objects.get(pk=ids[0]), Execution.objects.get(pk=ids[1])
    assert lost.status == "failed" and "worker running this cycle was lost" in lost.error
    assert (fast.status, fast.finished_at, fast.worker) == ("succeeded", fast_before.finished_at, fast_before.worker)
    assert Execution.objects.filter(strategy__in=[lost.strategy_id, fast.strategy_id]).count() == 2  # nothing re-run
    assert [Strategy.objects.get(pk=run.strategy_id).runs_total for run in (lost, fast)] == [1, 1]
