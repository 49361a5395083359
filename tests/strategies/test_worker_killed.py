"""A real Celery worker killed in the middle of a cycle, between the venue taking an order and the
worker recording it: the retried task fails the run and settles the order with the venue; the
simulator, which counts orders, never sees a second one.

The worker is a subprocess on the test database and Redis (its own queue), trading live on Kalshi
against the in-process simulator, whose answer to the order is held back so the kill lands after
the order was placed and before the answer was recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings

from strategies.models import Execution, Strategy
from strategies.scheduling import strategies_tick
from strategies.tasks import execution_cycle
from tests.faults.services import shared_database_url
from tests.trading.test_money_live import deploy_live
from tests.trading.test_paper_cycle import FED, frozen_simulator, venues
from trading.models import Order, Position

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]
__all__ = ["frozen_simulator", "venues"]

ROOT = Path(settings.BASE_DIR)
ORDERS_PATH = "/portfolio/events/orders"


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def worker_env(redis_url: str, frozen_simulator, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": shared_database_url(),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": f"test-{uuid.uuid4().hex[:8]}",
        "CELERY_VISIBILITY_TIMEOUT": "2",  # redeliver the killed worker's task quickly
        "VENUE_SIMULATOR_URL": frozen_simulator.url,
        "LOG_LEVEL": "INFO",
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "strategyhub", "worker", "--pool", "prefork", "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    """Warm shutdown: the worker finishes what it runs."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)


def kill(worker: subprocess.Popen[bytes]) -> None:
    """The whole worker at once, parent and pool process, as the OOM killer or a lost machine would."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def test_a_worker_killed_after_the_venue_took_the_order_never_causes_a_second_one(
        alice, staff, frozen_simulator, worker_env: dict[str, str], tmp_path: Path) -> None:
    strategy = deploy_live(alice, staff, name="Killed mid-cycle")
    assert strategy.next_run_at is not None
    queued: list[int] = []
    strategies_tick(enqueue=queued.append, now=strategy.next_run_at)
    [execution_id] = queued
    orders_before = frozen_simulator.orders.count("kalshi")
    # The venue takes the order, then holds its answer back long enough for the kill to land first.
    frozen_simulator.faults.inject("latency", venue="kalshi", method="POST", path_contains=ORDERS_PATH,
                                   phase="after", delay_seconds=30)
    log = tmp_path / "worker.log"
    first = start_worker(worker_env, log)
    try:
        execution_cycle.apply_async(args=(execution_id,), queue=worker_env["CELERY_QUEUE"])
        wait_for(lambda: frozen_simulator.orders.count("kalshi") == orders_before + 1, seconds=60,
                 what=f"the worker's order to reach the simulator (worker log: {log.read_text()[-2000:]})")
    finally:
        kill(first)
        frozen_simulator.faults.clear()

    execution = Execution.objects.get(pk=execution_id)
    order = Order.objects.get()
    assert (execution.status, order.status, order.filled_quantity) == ("running", "submitted", 0)  # nothing recorded
    assert execution.worker.rpartition(":")[2].isdigit()  # host:pid of the pool process that ran it

    second = start_worker(worker_env, log)  # the retry: the same task, delivered again
    try:
        wait_for(lambda: Execution.objects.get(pk=execution_id).status != "running", seconds=60,
                 what=f"the redelivered task to settle the run (worker log: {log.read_text()[-2000:]})")
    finally:
        stop(second)

    execution.refresh_from_db()
    order.refresh_from_db()
    assert execution.status == "failed" and "worker running this cycle was lost" in execution.error
    assert frozen_simulator.orders.count("kalshi") == orders_before + 1  # still the one order
    assert Order.objects.count() == 1
    messages = list(execution.logs.order_by("seq").values_list("message", flat=True))
    assert (order.status, order.filled_quantity) == ("filled", D(88)), (messages, log.read_text()[-3000:])
    assert Position.objects.get(strategy=strategy, market_id=FED).quantity == D(88)
    messages = list(execution.logs.order_by("seq").values_list("message", flat=True))
    assert any(f"order {order.client_order_id} (live) recovered after the worker was lost: filled" in message
               for message in messages), messages
    assert Strategy.objects.get(pk=strategy.pk).runs_failed == 1
