"""Redis or Postgres restarted under the real worker and beat: both recover on their own, no slot runs
twice or overlaps another, every slot is in the database (run, or skipped/failed saying why), and a
websocket follower is told to reconnect (4012) when Redis and its channel-layer groups go away.

Each test owns its services (a private redis-server; a private Postgres cluster), so restarting them
disturbs nothing else on the machine, and runs quiet strategies (they only ctx.log) every 5 seconds,
the shortest interval a strategy may have.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy
from tests.conftest import scripts_files
from tests.faults.follower import BrowserFollower
from tests.faults.services import (
    ROOT,
    Celery,
    private_postgres,
    private_redis,
    project_env,
    shared_database_url,
    wait_for,
)
from tests.faults.slots import describe, runs_from, slot_problems
from tests.strategies.test_scheduling import QUIET

pytestmark = pytest.mark.faults
INTERVAL = 5  # seconds: the minimum of strategy-config.schema.json
STRATEGIES = 3
OUTAGE = 4  # seconds without the service


def quiet_strategies(owner: Any, reviewer: Any, first_slot: datetime) -> list[Strategy]:
    """Approved for paper, their first slots one second apart from `first_slot`."""
    strategies = []
    for index in range(STRATEGIES):
        files = {**scripts_files(name=f"Quiet {index}", polling_interval=INTERVAL), **QUIET}
        strategy = strategy_deploy(owner=owner, files=files, approve_by=reviewer).strategy
        Strategy.objects.filter(pk=strategy.pk).update(next_run_at=first_slot + timedelta(seconds=index))
        strategy.refresh_from_db()
        strategies.append(strategy)
    return strategies


def succeeded(strategy: Strategy, since: datetime | None = None) -> int:
    runs = Execution.objects.filter(strategy=strategy, trigger="scheduled", status="succeeded")
    return runs.filter(scheduled_for__gt=since).count() if since else runs.count()


@pytest.mark.django_db(transaction=True)
def test_redis_restarted_beat_workers_and_followers_recover(
        alice, staff, _venue_simulator, settings, tmp_path: Path) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
    with private_redis(tmp_path / "redis") as redis_server:
        layer = settings.CHANNEL_LAYERS["default"]
        hosts = [{**host, "address": redis_server.url} for host in layer["CONFIG"]["hosts"]]
        settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": hosts}}}
        env = project_env(
            database_url=shared_database_url(),
            redis_url=redis_server.url, VENUE_SIMULATOR_URL=_venue_simulator.url)
        strategies = quiet_strategies(alice, staff, timezone.now() + timedelta(seconds=5))
        celery = Celery(env, tmp_path)
        try:
            celery.start_worker()
            celery.start_beat()
            port = celery.start_web()
            url = f"ws://127.0.0.1:{port}/ws/strategies/{strategies[0].pk}/"
            with BrowserFollower(url, alice) as follower:
                wait_for(lambda: all(succeeded(strategy) >= 2 for strategy in strategies) and bool(follower.events),
                         seconds=25, what=lambda: f"two runs of each strategy before the restart: "
                         f"{[succeeded(s) for s in strategies]}, {len(follower.events)} events, {follower.closed}\n"
                         f"{celery.logs()}")

                redis_server.stop()
                time.sleep(OUTAGE)
                redis_server.start()
                restarted = timezone.now()

                wait_for(lambda: all(succeeded(strategy, restarted) >= 2 for strategy in strategies),
                         seconds=30, what=lambda: f"two runs of each strategy after the restart\n{celery.logs()}")
                # The page follows again: a run that started after the restart reaches the browser's socket.
                wait_for(lambda: any(at > restarted and event["execution"]["status"] == "succeeded"
                                     for at, event in follower.events),
                         seconds=45, what=lambda: f"an event after the restart; closes {follower.closed}, "
                         f"{follower.connections} connections\n{celery.logs()}")
            assert celery.alive() == {"worker": True, "beat": True, "web": True}, celery.logs()
            # The restart closed the socket saying "reconnect" (4012), not a crash (1011) or a silent stop.
            assert 4012 in [code for _, code in follower.closed], follower.closed
            assert follower.connections >= 2
            celery.drain(lambda: Execution.objects.filter(status__in=("queued", "running")).count())
        finally:
            celery.stop_all()

    with connection.cursor() as cursor:
        runs = runs_from(cursor)
    for strategy in strategies:
        assert strategy.next_run_at is not None  # the first slot, as set before the processes started
        problems = slot_problems(runs[strategy.pk], origin=strategy.next_run_at, interval=INTERVAL)
        assert not problems, f"strategy {strategy.pk}:\n" + "\n".join(problems) + "\n" + describe(runs[strategy.pk])


DEPLOY_QUIET = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import grant, scripts_files
from tests.strategies.test_scheduling import QUIET

owner = get_user_model().objects.create_user("alice")
reviewer = grant(get_user_model().objects.create_user("reviewer", is_staff=True), "strategies.approve_paper")
first_slot = timezone.now() + timedelta(seconds=%(lead)d)
origins = {}
for index in range(%(count)d):
    files = {**scripts_files(name=f"Quiet {index}", polling_interval=%(interval)d), **QUIET}
    strategy = strategy_deploy(owner=owner, files=files, approve_by=reviewer).strategy
    origins[strategy.pk] = (first_slot + timedelta(seconds=index)).isoformat()
    Strategy.objects.filter(pk=strategy.pk).update(next_run_at=origins[strategy.pk])
print(json.dumps(origins))
"""


def test_postgres_restarted_beat_and_workers_recover(_venue_simulator, tmp_path: Path) -> None:
    with private_postgres() as cluster, private_redis(tmp_path / "redis") as redis_server:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE strategyhub")
        env = project_env(database_url=cluster.url("strategyhub"), redis_url=redis_server.url,
                          VENUE_SIMULATOR_URL=_venue_simulator.url)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        script = DEPLOY_QUIET % {"lead": 6, "count": STRATEGIES, "interval": INTERVAL}
        deployed = subprocess.run([*manage, "shell", "-c", script], cwd=ROOT, env=env, check=True,
                                  capture_output=True, text=True, timeout=60)
        origins = {int(pk): datetime.fromisoformat(at) for pk, at in json.loads(deployed.stdout.splitlines()[-1]).items()}

        def succeeded_each(since: datetime) -> list[int]:
            """Runs succeeded per strategy, on a fresh connection each time (ours would not survive the restart)."""
            with psycopg.connect(cluster.url("strategyhub"), autocommit=True) as db:
                rows: dict[int, int] = dict(db.execute(
                    "SELECT strategy_id, count(*) FROM strategies_execution WHERE trigger = 'scheduled'"
                    " AND status = 'succeeded' AND scheduled_for > %s GROUP BY strategy_id", (since,)).fetchall())
            return [rows.get(pk, 0) for pk in origins]

        celery = Celery(env, tmp_path)
        try:
            celery.start_worker()
            celery.start_beat()
            started = timezone.now()
            wait_for(lambda: min(succeeded_each(started)) >= 2, seconds=30,
                     what=lambda: f"two runs of each strategy before the restart\n{celery.logs()}")

            cluster.stop("fast")  # every session is terminated, as in a restart or a failover
            down = timezone.now()
            time.sleep(INTERVAL + 3)  # longer than an interval: slots are missed, and must be recorded
            cluster.start()
            restarted = timezone.now()

            wait_for(lambda: min(succeeded_each(restarted)) >= 2, seconds=30,
                     what=lambda: f"two runs of each strategy after the restart: {succeeded_each(restarted)}"
                                  f"\n{celery.logs()}")
            assert celery.alive() == {"worker": True, "beat": True}, celery.logs()

            def unfinished() -> int:
                with psycopg.connect(cluster.url("strategyhub"), autocommit=True) as db:
                    row = db.execute("SELECT count(*) FROM strategies_execution"
                                     " WHERE status IN ('queued', 'running')").fetchone()
                return int(row[0]) if row else 0

            celery.drain(unfinished)
        finally:
            celery.stop_all()
        with psycopg.connect(cluster.url("strategyhub")) as db, db.cursor() as cursor:
            runs = runs_from(cursor)
        for pk, origin in origins.items():
            problems = slot_problems(runs[pk], origin=origin, interval=INTERVAL)
            assert not problems, f"strategy {pk}:\n" + "\n".join(problems) + "\n" + describe(runs[pk])
        # Nothing ticked while the database was down: each strategy's slots then were skipped saying so, either
        # by the tick ("missed") or, for a run queued just before the outage, when it was claimed too late.
        missed = [run for pk in origins for run in runs[pk] if down <= run.scheduled_for <= restarted]
        outage_reasons = ("missed: the scheduler was not ticking", "skipped: started ")
        assert missed and all(run.status == "succeeded" or run.error.startswith(outage_reasons)
                              for run in missed), describe(missed)
        assert any(run.status == "skipped" for run in missed), describe(missed)
