"""A worker cut off mid-run (its network lost, then back) finds, when it comes back, that recovery has already
ended its run as lost, and perhaps that the next slot is running. It must then write nothing: ending the run
again would overlap the next one, count the run twice, and put back a state the next run has moved past."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from strategies.cycle.recovery import LOST, executions_recover
from strategies.cycle.run import execution_start
from strategies.models import Execution, ExecutionLog
from strategies.scheduling import strategies_tick
from strategies.services import strategy_deploy
from tests.conftest import example_files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.storage]

# Long enough to stream its first line (STREAM_AFTER), and to be found lost while it sleeps.
SLEEPER = {"entry.py": "import time\n\ndef should_enter(ctx):\n    ctx.log('first')\n    time.sleep(1.5)\n"
                       "    ctx.log('second')\n    ctx.state['late'] = True\n    return []\n",
           "exit.py": "def should_exit(ctx, position):\n    return None\n"}


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_recovery_ended_as_lost_is_not_ended_again_by_its_worker_coming_back(alice, staff) -> None:
    strategy = strategy_deploy(owner=alice, files={**example_files("kalshi_favourite_longshot"), **SLEEPER},
                               approve_by=staff).strategy
    strategy.refresh_from_db()
    enqueued: list[int] = []
    strategies_tick(enqueue=enqueued.append, now=strategy.next_run_at)
    [execution_id] = enqueued

    def worker() -> None:
        try:
            execution_start(execution_id=execution_id)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        wait_for(lambda: ExecutionLog.objects.filter(execution_id=execution_id, message="first").exists())
        # Its worker is unreachable (cut off): past the hard time limit, any other host takes the run for lost.
        assert executions_recover(enqueue=lambda pk: None, now=timezone.now() + timedelta(hours=1)).failed == 1
    finally:
        thread.join(30)
    assert not thread.is_alive()

    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == ("failed", f"failed: {LOST}")
    messages = list(execution.logs.exclude(level="system").values_list("message", flat=True))
    assert messages[0] == "first" and messages[1].startswith(LOST)
    assert "second" not in messages  # nothing of the late worker's is written after the run ended
    strategy.refresh_from_db()
    assert (strategy.runs_total, strategy.runs_succeeded, strategy.runs_failed) == (1, 0, 1)  # counted once
    assert "late" not in strategy.state
