"""The Celery task: progress (percent and ETA) persisted and broadcast on the strategy's group; cancel."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from strategies.backtests import backtest_cancel, backtest_create, csv_store
from strategies.events import strategy_group
from strategies.models import Backtest
from strategies.services import strategy_deploy
from strategies.tasks import backtest_run
from strategyhub.lib.workers import worker_id
from tests.backtest.conftest import EXAMPLE, goog_csv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.storage]


SLOW_STEPS = """

import time as _time

_should_enter = should_enter


def should_enter(ctx):  # 20 ms a step: the whole run takes long enough to be cancelled in the middle
    _time.sleep(0.02)
    return _should_enter(ctx)
"""


def queued(alice: Any, *, slow: bool = False) -> Backtest:
    files = {path.name: path.read_text() for path in EXAMPLE.iterdir() if path.is_file()}
    if slow:
        files["entry.py"] += SLOW_STEPS
    version = strategy_deploy(owner=alice, files=files)
    from decimal import Decimal

    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")
    return backtest_create(version=version, created_by=alice, data=data, cash=Decimal(10000),
                           commission=Decimal("0.002"))


def test_progress_is_broadcast_on_the_strategy_s_group_with_an_eta(settings, redis_url, alice) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    backtest = queued(alice)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(strategy_group(backtest.strategy_id), channel)

    backtest_run(backtest.pk)

    events = []
    while True:
        try:
            message = async_to_sync(_receive)(layer, channel)
        except TimeoutError:
            break
        events.append(message["event"]["backtest"])
    assert next(e["status"] for e in events) == "running" and events[-1]["status"] == "succeeded"
    running = [e for e in events if e["status"] == "running" and e["progress"] > 0]
    assert running and all(0 < e["progress"] <= 100 and e["eta_seconds"] is not None for e in running)
    assert [e["progress"] for e in running] == sorted(e["progress"] for e in running)
    assert events[-1]["progress"] == 100.0 and events[-1]["metrics"]["trades"] == 46
    backtest.refresh_from_db()
    assert backtest.status == "succeeded" and backtest.eta_seconds is None


async def _receive(layer: Any, channel: str) -> Any:
    import asyncio

    try:
        return await asyncio.wait_for(layer.receive(channel), timeout=1.0)
    except TimeoutError:
        raise TimeoutError from None


def test_a_running_backtest_is_cancelled_between_two_steps(settings, redis_url, alice) -> None:
    backtest = queued(alice, slow=True)

    def work() -> None:
        from django.db import connection

        try:
            backtest_run(backtest.pk)
        finally:
            connection.close()  # this thread's own connection: left open, it blocks the test database's teardown

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 60
    while not Backtest.objects.filter(pk=backtest.pk, progress__gt=0).exists():
        assert time.monotonic() < deadline, "the backtest never reported progress"
        time.sleep(0.05)

    backtest_cancel(backtest=backtest)
    worker.join(60)

    backtest.refresh_from_db()
    assert backtest.cancel_requested
    assert backtest.status == "cancelled" and backtest.error.startswith("cancelled at step")
    assert 0 < backtest.progress < 100 and backtest.finished_at is not None and backtest.trades == []


def test_a_queued_backtest_is_cancelled_at_once_and_never_runs(settings, redis_url, alice) -> None:
    backtest = queued(alice)
    backtest_cancel(backtest=backtest)
    backtest_run(backtest.pk)  # the message arrives later: it finds the row taken
    backtest.refresh_from_db()
    assert (backtest.status, backtest.steps, backtest.started_at) == ("cancelled", 0, None)


def test_a_started_backtest_runs_on_a_worker_once_committed(settings, redis_url, alice) -> None:
    from decimal import Decimal

    from django.db import transaction

    from strategies.backtests import backtest_start
    from strategies.tasks import backtest_run
    from strategyhub.celery import app

    settings.BACKTEST_LOOKAHEAD_CHECK = False
    files = {path.name: path.read_text() for path in EXAMPLE.iterdir() if path.is_file()}
    version = strategy_deploy(owner=alice, files=files)
    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the task runs here instead of going through a broker
    try:
        with transaction.atomic():
            backtest = backtest_start(enqueue=backtest_run.delay, version=version, created_by=alice, data=data,
                                      cash=Decimal(10000))
            assert Backtest.objects.get(pk=backtest.pk).status == "queued"  # nothing sent before the commit
    finally:
        app.conf.task_always_eager = eager
    backtest.refresh_from_db()
    assert backtest.status == "succeeded" and backtest.metrics["trades"] == 46


def test_a_backtest_whose_worker_died_is_failed_by_the_recovery_sweep(settings, redis_url, alice) -> None:
    import subprocess

    from django.utils import timezone

    from strategies.tasks import executions_recover

    backtest = queued(alice)
    dead = subprocess.Popen(["true"])
    dead.wait()
    Backtest.objects.filter(pk=backtest.pk).update(status="running", started_at=timezone.now(),
                                                   worker=worker_id(dead.pid))
    alive = queued(alice)
    Backtest.objects.filter(pk=alive.pk).update(status="running", started_at=timezone.now(),
                                                worker=worker_id())

    executions_recover()

    backtest.refresh_from_db()
    alive.refresh_from_db()
    assert (backtest.status, backtest.error) == ("failed", "the worker running this backtest was lost (killed or "
                                                 "restarted) before it finished")
    assert backtest.finished_at is not None
    assert alive.status == "running"  # its process is this one: still at work
