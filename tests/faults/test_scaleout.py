"""Two worker hosts share the load of one deployment, and losing either one loses, doubles or overlaps no run.

Each host is a network namespace with a veth link to a bridge (its own address), and its own UTS and PID
namespaces (tests/faults/hosts.py). Both are named `worker`, as machines cloned from one image are, and
both number their processes from 1: the claim's host:pid must still tell them apart. Postgres (a private
cluster), Redis, the venue simulator and beat live in the root namespace, on the bridge's address.

Live Kalshi strategies each place one order per cycle with the simulator, whose answers are held back a
second, so a cut or a kill lands after the venue took an order and before the worker recorded it.

  (a) both hosts run cycles;
  (b) a host is cut off (its link down) while it runs such cycles (whichever has one in flight first), the other
      carries on alone and recovers its runs once they are stale, then its link comes back;
  (c) a host is killed (SIGKILL to its whole process tree) in the same spot; the other recovers its runs.

Then every slot of every strategy is accounted for (succeeded, or skipped/failed with a reason), none
twice, no two runs of one strategy overlap, and each order the venue holds is in the ledger with the
venue's fills (and the ledger holds no order the venue does not, unless it was rejected unsent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faults.hosts import Host, lan_with_hosts, missing_tools
from tests.faults.services import ROOT, Celery, private_postgres, private_redis, project_env
from tests.faults.slots import describe, runs_from, slot_problems
from trading.simulator import SimulatorConfig, VenueSimulator
from trading.venues import simulator_key_dir

pytestmark = pytest.mark.faults
INTERVAL = 5  # seconds, the shortest a strategy may have
# The tick routes each version to one host (docs/scheduling.md, Routing): with ten, (a) finds all on one host once in 512.
STRATEGIES = 10
WALL = 4  # SANDBOX_WALL_SECONDS: hard time limit 34 s, a run stale (its worker lost) 44 s after it started
ANSWER_DELAY = 1.0  # seconds the simulator holds back its answer to every order
ORDERS_PATH = "/portfolio/events/orders"
LOST = "the worker running this cycle was lost"

DEPLOY = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from strategies.models import Strategy, StrategyVersion
from strategies.services import strategy_deploy
from tests.conftest import grant, scripts_files
owner = get_user_model().objects.create_user("alice")  # tests.settings' operator: the simulator's dev account
reviewer = grant(get_user_model().objects.create_user("reviewer", is_staff=True), "strategies.approve_paper")
first_slot = timezone.now() + timedelta(seconds=%(lead)d)
origins = {}
for index in range(%(count)d):
    files = scripts_files(name=f"Scale-out {index}", polling_interval=%(interval)d,
        parameters={"ticker": "KXSIMFED-26DEC31-T4.00"},
        capital={"total_capital": 100000, "capital_per_trade": 1, "max_positions": 5, "max_position_size": 100000,
                 "max_daily_loss": 100000, "sizing_method": "fixed", "kelly_fraction": None, "percent": None},
        risk_limits={"max_order_usd": 5, "max_daily_usd": 100000, "allowed_services": ["kalshi"]})
    files["entry.py"] = (
        "from strategies.sdk import EntrySignal\\n"
        "def should_enter(ctx):\\n"
        "    ctx.log('one order')\\n"
        "    return [EntrySignal(market_id=ctx.params['ticker'], side='yes', reason='scale-out', confidence=0.6,"
        " limit_price=0.6)]\\n")
    files["exit.py"] = "def should_exit(ctx, position):\\n    return None\\n"
    version = strategy_deploy(owner=owner, files=files, mode="live", approve_by=reviewer)
    StrategyVersion.objects.filter(pk=version.pk).update(approved_live_by=reviewer, approved_live_at=timezone.now())
    at = first_slot + timedelta(seconds=%(interval)d * index / %(count)d)
    Strategy.objects.filter(pk=version.strategy_id).update(next_run_at=at)
    origins[version.strategy_id] = at.isoformat()
print(json.dumps(origins))
"""

PAUSE = """
from strategies.models import Strategy
from strategies.services import strategy_pause

for strategy in Strategy.objects.all():
    strategy_pause(strategy=strategy, reason="the scale-out test is over")
"""


def wait_for(condition: Callable[[], bool], *, seconds: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what()}")


class Ledger:
    """What the shared database says, read on a fresh connection each time (as a third machine would)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as db:
            return db.execute(sql, parameters).fetchall()

    def hosts_of_runs(self, *, status: str | None = None, since: datetime | None = None) -> Counter[str]:
        """Scheduled runs per claiming host (host:pid without the pid)."""
        rows = self.rows("SELECT worker, status, started_at FROM strategies_execution WHERE trigger = 'scheduled'"
                         " AND worker <> ''")
        return Counter(worker.rpartition(":")[0] for worker, run_status, started in rows
                       if (status is None or run_status == status) and (since is None or started > since))

    def succeeded_per_strategy(self) -> list[int]:
        rows = self.rows("SELECT strategy_id, count(*) FROM strategies_execution WHERE trigger = 'scheduled'"
                         " AND status = 'succeeded' GROUP BY strategy_id")
        return [count for _, count in rows] if len(rows) == STRATEGIES else [0]

    def running_on(self, host: str) -> list[int]:
        return [pk for pk, worker in self.rows("SELECT id, worker FROM strategies_execution WHERE status = 'running'")
                if worker.rpartition(":")[0] == host]

    def active(self) -> int:
        return int(self.rows("SELECT count(*) FROM strategies_execution WHERE status IN ('queued', 'running')")[0][0])

    def orders(self) -> dict[str, tuple[str, Decimal, str]]:
        return {cid: (status, filled, reason) for cid, status, filled, reason in self.rows(
            "SELECT client_order_id, status, filled_quantity, reject_reason FROM trading_order WHERE book = 'live'")}


def venue_orders(simulator: VenueSimulator) -> dict[str, Decimal]:
    """Every order the simulated Kalshi accepted, by client order id, with what it filled."""
    return {cid: order.filled for account in simulator.kalshi.accounts.values()
            for cid, order in account.by_client_id.items()}


@pytest.mark.scaleout
def test_two_hosts_share_the_load_and_one_cut_off_or_killed_loses_no_run(tmp_path: Path) -> None:
    problems = missing_tools()
    if problems:  # the scale-out claim is proven here or not at all: never a silent skip
        pytest.fail("the scale-out test cannot run: " + "; ".join(problems))

    with (lan_with_hosts("worker", "worker") as (lan, (host_a, host_b)),
          private_postgres(lan.address) as cluster,
          private_redis(tmp_path / "redis", lan.address) as redis_server):
        simulator = VenueSimulator(SimulatorConfig(host=lan.address, port=0, speed=0,
                                                   key_dir=simulator_key_dir())).start()
        try:
            with psycopg.connect(cluster.url(), autocommit=True) as admin:
                admin.execute("CREATE DATABASE strategyhub")
            env = project_env(database_url=cluster.url("strategyhub"), redis_url=redis_server.url,
                              VENUE_SIMULATOR_URL=simulator.url, SANDBOX_WALL_SECONDS=str(WALL),
                              VENUE_TIMEOUT_SECONDS="3", CELERY_QUEUE=f"scaleout-{uuid.uuid4().hex[:8]}",
                              SLOW_CYCLE_SECONDS="0")  # one lane: the hosts are under test (the lane: test_slow_neighbours)
            manage = [sys.executable, "manage.py"]
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=180)
            script = DEPLOY % {"lead": 8, "count": STRATEGIES, "interval": INTERVAL}
            deployed = subprocess.run([*manage, "shell", "-c", script], cwd=ROOT, env=env, check=True,
                                      capture_output=True, text=True, timeout=60)
            origins = {int(pk): datetime.fromisoformat(at)
                       for pk, at in json.loads(deployed.stdout.splitlines()[-1]).items()}
            simulator.faults.inject("latency", venue="kalshi", method="POST", path_contains=ORDERS_PATH,
                                    phase="after", delay_seconds=ANSWER_DELAY)
            run_scenarios(tmp_path, env, manage, host_a, host_b, Ledger(cluster.url("strategyhub")), simulator)

            with psycopg.connect(cluster.url("strategyhub")) as db, db.cursor() as cursor:
                runs = runs_from(cursor)
            ledger = Ledger(cluster.url("strategyhub"))
            orders = ledger.orders()
        finally:
            simulator.stop()

    statuses = Counter(run.status for strategy_runs in runs.values() for run in strategy_runs)
    print(f"scale-out: {dict(statuses)}; {len(venue_orders(simulator))} orders at the venue, "
          f"{Counter(status for status, _, _ in orders.values())} in the ledger")
    for pk, origin in origins.items():
        problems = slot_problems(runs[pk], origin=origin, interval=INTERVAL)
        assert not problems, f"strategy {pk}:\n" + "\n".join(problems) + "\n" + describe(runs[pk])
    at_venue = venue_orders(simulator)
    assert at_venue, "no order reached the venue"
    assert simulator.orders.count("kalshi") == len(at_venue)  # accepted once each
    for cid, filled in at_venue.items():
        assert cid in orders, f"the venue holds {cid}, the ledger does not"
        assert orders[cid][1] == filled, f"{cid}: the venue filled {filled}, the ledger says {orders[cid]}"
    unsent = {cid: order for cid, order in orders.items() if cid not in at_venue}
    assert all(status == "rejected" and reason for status, _, reason in unsent.values()), unsent
    lost = [run for strategy_runs in runs.values() for run in strategy_runs if run.error.startswith(f"failed: {LOST}")]
    assert len(lost) >= 2, "neither the cut nor the kill caught a run in flight:\n" + describe(lost)


def run_scenarios(tmp_path: Path, env: dict[str, str], manage: list[str], host_a: Host, host_b: Host,
                  ledger: Ledger, simulator: VenueSimulator) -> None:
    beat = Celery(env, tmp_path)
    logs = {host.netns: tmp_path / f"worker-{name}.log" for name, host in (("a", host_a), ("b", host_b))}

    def all_logs() -> str:
        return beat.logs(2000) + "".join(f"\n--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}"
                                         for path in logs.values() if path.exists())

    try:
        for host in (host_a, host_b):
            host.start_worker(env, logs[host.netns], concurrency=3)  # one host alone holds ten runs waiting on orders
        beat.start_beat()

        # (a) Both hosts take cycles from the one queue.
        wait_for(lambda: min(ledger.succeeded_per_strategy()) >= 3, seconds=60,
                 what=lambda: f"three runs of each strategy\n{all_logs()}")
        failed = ledger.rows("SELECT id, worker, error FROM strategies_execution WHERE status = 'failed'")
        assert not failed, f"runs failed while both hosts were up: {failed}"  # none lost, none taken for lost
        wait_for(lambda: len(ledger.hosts_of_runs(status="succeeded")) == 2, seconds=60,
                 what=lambda: f"both hosts to run cycles: {ledger.hosts_of_runs()}\n{all_logs()}")
        name_a, name_b = host_a.claims_as(), host_b.claims_as()  # the same hostname, told apart
        assert set(ledger.hosts_of_runs(status="succeeded")) == {name_a, name_b}, (name_a, name_b)
        assert name_a.startswith("worker@") and name_a != name_b

        def in_flight(host_name: str) -> bool:
            """A run of this host whose order the venue took (its answer still held back)."""
            at_venue = venue_orders(simulator)
            return any(any(cid.split("-")[2] == str(pk) for cid in at_venue) for pk in ledger.running_on(host_name))

        def flying(hosts: tuple[tuple[Host, str], ...], seen: list[tuple[Host, str]]) -> bool:
            """A host of `hosts` with a run in flight, remembered in `seen` (the one the check found)."""
            for host, name in hosts:
                if in_flight(name):
                    seen.append((host, name))
                    return True
            return False

        # Which host takes the cycles is up to Redis: it hands each message to the consumer that waits longest, and
        # at this test's one run a tick the two hosts can fall into step (one always takes the tick, the other the
        # cycle the tick sends), so one host may win no cycle for a long while. The faults go to whichever host
        # has a run in flight, so the test never waits on one that has none.
        hosts = ((host_b, name_b), (host_a, name_a))

        # (b) A host cut off in flight; the other carries on and settles its runs once stale; it comes back.
        seen: list[tuple[Host, str]] = []
        wait_for(lambda: flying(hosts, seen), seconds=60, what=lambda: f"a run in flight\n{all_logs()}")
        (cut, name_cut), = seen
        name_other = name_a if name_cut == name_b else name_b
        cut.cut()
        cut_at = datetime.now().astimezone()
        caught = ledger.running_on(name_cut)
        wait_for(lambda: not set(caught) & set(ledger.running_on(name_cut)), seconds=90,
                 what=lambda: f"{name_other} to recover {name_cut}'s runs {caught}\n{all_logs()}")
        assert ledger.hosts_of_runs(status="succeeded", since=cut_at)[name_other] >= STRATEGIES, all_logs()
        cut.restore()
        restored = datetime.now().astimezone()
        # That the cut host runs cycles again is proven when it must run every strategy alone in (c), or it is the
        # one killed there with a run in flight.

        late = ledger.rows("SELECT id, worker, error FROM strategies_execution WHERE status = 'failed'"
                           " AND started_at > %s", restored)
        assert not late, f"runs failed after {name_cut} came back, with both hosts up: {late}"

        # (c) A host killed in flight, its whole tree at once; the other recovers its runs and carries on.
        seen = []
        wait_for(lambda: flying(hosts, seen), seconds=60, what=lambda: f"a run in flight\n{all_logs()}")
        (killed, name_killed), = seen
        name_survivor = name_a if name_killed == name_b else name_b
        killed.kill()
        killed_at = datetime.now().astimezone()
        caught = ledger.running_on(name_killed)
        wait_for(lambda: not ledger.running_on(name_killed), seconds=90,
                 what=lambda: f"{name_survivor} to recover {name_killed}'s runs {caught}\n{all_logs()}")
        assert ledger.hosts_of_runs(status="succeeded", since=killed_at)[name_survivor] >= STRATEGIES, all_logs()

        subprocess.run([*manage, "shell", "-c", PAUSE], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
        wait_for(lambda: ledger.active() == 0, seconds=60, what=lambda: f"the last runs to end\n{all_logs()}")
    finally:
        beat.stop_all()
        host_b.stop()
        host_a.kill()
