"""Issue 23 through a real Celery worker: the worker announces a queue of its own; the tick sends runs ahead of their
slot, each to the live worker that owns its version, and the worker starts them at their slot, never before; a run
whose owner is gone goes to the shared queue."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.tasks import strategies_tick
from strategyhub.lib.cycle_workers import cycle_worker_beat, cycle_worker_gone, cycle_workers_live
from strategyhub.lib.hashring import HashRing
from tests.strategies.test_strategy_run import deploy
from tests.strategies.test_worker_killed import (
    ROOT,
    frozen_simulator,
    kill,
    start_worker,
    stop,
    venues,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["frozen_simulator", "venues", "worker_env"]

QUIET = "def should_enter(ctx):\n    ctx.log('tick')\n    return []\n"


def test_runs_sent_ahead_start_at_their_slot_on_the_worker_that_owns_them(
        alice, staff, settings, worker_env: dict[str, str], tmp_path: Path) -> None:
    settings.CELERY_TASK_DEFAULT_QUEUE = worker_env["CELERY_QUEUE"]  # the tick sends and reads the workers as they do
    settings.SLOW_CYCLE_SECONDS = 0
    settings.SCHEDULE_LEAD_MS = 1000
    strategies = [deploy(alice, entry=QUIET, approve_by=staff, polling_interval=10, name=f"ahead {index}")
                  for index in range(6)]
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env, log)
    try:
        wait_for(lambda: len(cycle_workers_live()) == 1, seconds=90,
                 what=f"the worker to announce its queue (worker log: {log.read_text()[-2000:]})")
        [own] = cycle_workers_live()
        assert ".cycles." in own
        # A second worker that never consumes: the runs it owns wait, the worker's own run (routed, not shared).
        ghost = next(name for name in (f"{worker_env['CELERY_QUEUE']}.cycles.ghost-{i}" for i in range(100))
                     if len({HashRing([own, name]).owner(str(s.running_version_id)) for s in strategies}) == 2)
        cycle_worker_beat(ghost)
        ring = HashRing([own, ghost])
        owned = {s.pk for s in strategies if ring.owner(str(s.running_version_id)) == own}
        slot = timezone.now() + timedelta(milliseconds=800)
        Strategy.objects.filter(pk__in=[s.pk for s in strategies]).update(next_run_at=slot)
        sent_at = timezone.now()
        assert strategies_tick() == len(strategies)  # sent ahead: the slot is still to come
        assert sent_at < slot
        wait_for(lambda: Execution.objects.filter(strategy__in=owned, status="succeeded").count() == len(owned),
                 seconds=60, what=f"the owned runs to finish (worker log: {log.read_text()[-2000:]})")
        for execution in Execution.objects.filter(strategy__in=owned):
            assert execution.started_at is not None and execution.started_at >= execution.scheduled_for == slot
        stranded = Execution.objects.exclude(strategy__in=owned)
        assert set(stranded.values_list("status", flat=True)) == {"queued"}  # on the ghost's queue: nobody took them

        cycle_worker_gone(ghost)  # its owner gone: the next slot of those strategies goes to a live worker
        Execution.objects.filter(status="queued").update(status="skipped", finished_at=timezone.now(),
                                                         error="skipped: not under test")
        later = timezone.now() + timedelta(milliseconds=800)
        Strategy.objects.exclude(pk__in=owned).update(next_run_at=later)
        assert strategies_tick() == len(strategies) - len(owned)
        wait_for(lambda: Execution.objects.filter(scheduled_for=later, status="succeeded").count()
                 == len(strategies) - len(owned), seconds=60,
                 what=f"the ghost's strategies to run on the live worker (worker log: {log.read_text()[-2000:]})")
        for execution in Execution.objects.filter(scheduled_for=later):
            assert execution.started_at is not None and execution.started_at >= execution.scheduled_for
    finally:
        stop(worker)
    assert cycle_workers_live() == []  # a worker that stops says so


def start_named_worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen[bytes]:
    """A worker with a fixed node name: started again with it on this host, it consumes the same own queue."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "strategyhub", "worker", "--pool", "prefork", "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", f"{name}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def test_a_worker_killed_while_it_holds_a_message_sent_ahead_loses_no_run(
        alice, staff, settings, worker_env: dict[str, str], tmp_path: Path) -> None:
    settings.CELERY_TASK_DEFAULT_QUEUE = worker_env["CELERY_QUEUE"]
    settings.SLOW_CYCLE_SECONDS = 0
    settings.SCHEDULE_LEAD_MS = 4000  # a message held long enough for the kill to land before its ETA
    strategy = deploy(alice, entry=QUIET, approve_by=staff, polling_interval=30, name="held ahead")
    log = tmp_path / "worker.log"
    name = f"held-{uuid.uuid4().hex[:6]}"
    first = start_named_worker(worker_env, log, name)
    try:
        wait_for(lambda: len(cycle_workers_live()) == 1, seconds=90,
                 what=f"the worker to announce its queue (worker log: {log.read_text()[-2000:]})")
        slot = timezone.now() + timedelta(seconds=3.5)
        Strategy.objects.filter(pk=strategy.pk).update(next_run_at=slot)
        assert strategies_tick() == 1
        # Its own line: the banner lists the task and worker_started is "received" too. Killed before the line, the
        # message may be in neither the queue nor kombu's unacknowledged set (the recovery sweep re-sends it later).
        received = re.compile(r"Task strategies\.execution_cycles\[[^]]+\] received")
        wait_for(lambda: received.search(log.read_text()) is not None, seconds=10,
                 what=f"the worker to take the message ahead of its slot (worker log: {log.read_text()[-2000:]})")
    finally:
        kill(first)
    [execution] = Execution.objects.filter(strategy=strategy)
    assert execution.status == "queued"  # held by the killed worker, unacknowledged: Redis still has it
    # kombu restores an unacknowledged message once it is older than the visibility timeout, when a worker starts
    # and then only every tenth poll (100 s): a worker back before the timeout ran out would wait that long.
    time.sleep(float(worker_env["CELERY_VISIBILITY_TIMEOUT"]) + 1)
    second = start_named_worker(worker_env, log, name)  # the same worker back: its queue, the message redelivered
    try:
        wait_for(lambda: Execution.objects.get(pk=execution.pk).status not in ("queued", "running"), seconds=150,
                 what=f"the redelivered message to run (worker log: {log.read_text()[-3000:]})")
    finally:
        stop(second)
    execution.refresh_from_db()
    assert execution.status == "succeeded", execution.error
    assert execution.started_at is not None and execution.started_at >= execution.scheduled_for == slot
    assert Execution.objects.filter(strategy=strategy).count() == 1  # ran once
