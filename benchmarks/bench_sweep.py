"""A 50-point parameter sweep of the reference case beside backtesting.py's `Backtest.optimize` of the same 50 points.

    python benchmarks/bench_sweep.py [--lanes 1,2]

The reference case (backtesting.py's SMA crossover, long only, on its GOOG.csv: 2,148 daily bars, 0.2 % per side,
cash 10,000) over fast = 5 … 14 and slow = 20, 25 … 40 (10 × 5 = 50 points), ranked by Sharpe:
- ours: `manage.py strategy_backtest ID --csv GOOG.csv --sweep … --lanes N --json` in this process: every point a
  stored Backtest, each its own sandboxed run, N at once (threads of the command, as N slow-lane worker slots
  would run them), then ranked with the deflated Sharpe and the out-of-sample tail;
- ours on the workers: the same sweep started as the API starts it, its lanes on the slow lane's queue served by a
  Celery worker of 2 processes (no GIL shared), timed from the start to the ranked result;
- backtesting.py: `Backtest.optimize(fast=range(5, 15), slow=range(20, 45, 5), maximize="Sharpe Ratio")` of the same
  strategy (it runs its grid in a process pool where it can), and one `Backtest.run()` for the per-point cost.
Both read the CSV. Runs on the test settings' embedded PostgreSQL and Redis (var/test/), started if needed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
EXAMPLE = ROOT / "tests" / "backtest" / "sma_cross"
FAST, SLOW = list(range(5, 15)), list(range(20, 45, 5))


from backtesting import Strategy  # noqa: E402 - a development dependency, after sys.path is set
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import SMA  # noqa: E402


class SmaCrossLong(Strategy):  # type: ignore[misc]
    """backtesting.py's SmaCross, long only, with the averages as parameters (module level: its optimize() pickles
    it for its process pool)."""

    fast = 10
    slow = 20

    def init(self) -> None:
        self.sma_fast = self.I(SMA, self.data.Close, self.fast)
        self.sma_slow = self.I(SMA, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow):
            if not self.position:
                self.buy()
        elif crossover(self.sma_slow, self.sma_fast):
            self.position.close()


def goog_csv() -> Path:
    import backtesting

    return Path(backtesting.__file__).parent / "test" / "GOOG.csv"


def backtesting_py() -> dict[str, Any]:
    import pandas as pd
    from backtesting import Backtest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        data = pd.read_csv(goog_csv(), index_col=0, parse_dates=True)
        Backtest(data, SmaCrossLong, cash=10_000, commission=0.002).run()
        one = time.perf_counter() - started
        started = time.perf_counter()
        data = pd.read_csv(goog_csv(), index_col=0, parse_dates=True)
        stats = Backtest(data, SmaCrossLong, cash=10_000, commission=0.002).optimize(
            fast=FAST, slow=SLOW, maximize="Sharpe Ratio")
        grid = time.perf_counter() - started
    strategy = stats._strategy
    return {"one": one, "grid": grid, "best": f"fast={strategy.fast} slow={strategy.slow}",
            "best_sharpe": float(stats["Sharpe Ratio"])}


def ours(strategy_id: int, lanes: int) -> dict[str, Any]:
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # the progress lines
        call_command("strategy_backtest", str(strategy_id), "--csv", str(goog_csv()), "--symbol", "GOOG", "--cash",
                     "10000", "--commission", "0.002", "--sweep", json.dumps({"fast": FAST, "slow": SLOW}),
                     "--metric", "sharpe", "--lanes", str(lanes), "--json", stdout=out, stderr=io.StringIO())
    elapsed = time.perf_counter() - started
    shaped = json.loads(out.getvalue())
    assert shaped["status"] == "succeeded" and shaped["trials"] == len(FAST) * len(SLOW), shaped.get("error")
    return {"wall": elapsed, "best": shaped["best"]["parameters"], "dsr": shaped["deflated_sharpe"]["deflated_sharpe"]}


def on_workers(strategy_id: int, owner: Any, folder: Path) -> dict[str, Any]:
    """The production path: the sweep's lanes on the slow lane's queue, served by a Celery worker of 2 processes
    (as the Procfile's `worker-slow` with SLOW_WORKER_CONCURRENCY=2), after a 2-point sweep warmed both."""
    from django.conf import settings

    from strategies.backtests import csv_store, sweep_start
    from strategies.models import Strategy, Sweep
    from strategies.tasks import sweep_lane
    from tests.faults.services import Celery, project_env, shared_database_url

    env = project_env(database_url=shared_database_url(), redis_url=settings.REDIS_URL, LOG_LEVEL="WARNING",
                      BACKTEST_LOOKAHEAD_CHECK="0")
    settings.CELERY_SLOW_QUEUE = f"{env['CELERY_QUEUE']}.slow"
    services = Celery(env, folder)
    version = Strategy.objects.get(pk=strategy_id).versions.get()
    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")

    def sweep(space: dict[str, list[int]]) -> float:
        started = time.perf_counter()
        made = sweep_start(enqueue=sweep_lane, version=version, created_by=owner, data=data, parameters=space,
                           metric="sharpe", cash=Decimal(10_000), commission=Decimal("0.002"))
        while Sweep.objects.filter(pk=made.pk, status__in=["queued", "running"]).exists():
            time.sleep(0.2)
        assert Sweep.objects.get(pk=made.pk).status == "succeeded", Sweep.objects.get(pk=made.pk).error
        return time.perf_counter() - started

    try:
        services.start_worker(concurrency=2, name="worker-slow", queues=settings.CELERY_SLOW_QUEUE)
        warm = sweep({"fast": [5, 6]})
        return {"warm_up": warm, "wall": sweep({"fast": FAST, "slow": SLOW})}
    finally:
        services.stop_all()


def one_backtest(strategy_id: int) -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        call_command("strategy_backtest", str(strategy_id), "--csv", str(goog_csv()), "--symbol", "GOOG", "--cash",
                     "10000", "--commission", "0.002", "--json", stdout=io.StringIO(), stderr=io.StringIO())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", default="1,2", help="comma-separated lane counts to measure (1,2)")
    args = parser.parse_args()
    import django

    from strategyhub.lib import embedded_postgres, embedded_redis

    django.setup()
    from django.conf import settings

    with embedded_postgres.running(embedded_postgres.project_cluster()):
        if settings.EMBEDDED_REDIS:
            embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET)
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from strategies.services import strategy_deploy

        call_command("migrate", verbosity=0)
        settings.BACKTEST_LOOKAHEAD_CHECK = False
        owner, _ = get_user_model().objects.get_or_create(username="bench-sweep")
        files = {path.name: path.read_text() for path in sorted(EXAMPLE.iterdir()) if path.is_file()}
        strategy_id = strategy_deploy(owner=owner, files=files).strategy.pk
        load_before = os.getloadavg()
        theirs = backtesting_py()
        cold = one_backtest(strategy_id)  # starts the zygote
        single = one_backtest(strategy_id)
        measured = {lanes: ours(strategy_id, lanes) for lanes in (int(n) for n in args.lanes.split(","))}
        with tempfile.TemporaryDirectory() as folder:
            workers = on_workers(strategy_id, owner, Path(folder))
        theirs_again = backtesting_py()
        load_after = os.getloadavg()

    points = len(FAST) * len(SLOW)
    grid = min(theirs["grid"], theirs_again["grid"])
    print(f"50-point sweep of the reference case (SMA fast {FAST[0]}…{FAST[-1]} × slow {SLOW[0]}…{SLOW[-1]}, "
          f"GOOG.csv, 2,148 daily bars), {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after")
    print(f"{'':44}{'ours (s)':>12}{'backtesting.py (s)':>20}{'ratio':>8}")
    print(f"{'one backtest (warm; cold ' + format(cold, '.2f') + ' s)':44}{single:>12.2f}"
          f"{min(theirs['one'], theirs_again['one']):>20.3f}{single / min(theirs['one'], theirs_again['one']):>7.0f}x")
    for lanes, result in measured.items():
        print(f"{f'{points}-point sweep, {lanes} lane(s) / optimize()':44}{result['wall']:>12.2f}{grid:>20.2f}"
              f"{result['wall'] / grid:>7.0f}x")
        print(f"{'  per point':44}{result['wall'] / points:>12.2f}{grid / points:>20.3f}")
    print(f"{f'{points}-point sweep, Celery slow lane, 2 processes':44}{workers['wall']:>12.2f}{grid:>20.2f}"
          f"{workers['wall'] / grid:>7.0f}x")
    print(f"{'  per point':44}{workers['wall'] / points:>12.2f}{grid / points:>20.3f}")
    best = next(iter(measured.values()))
    print(f"best: ours {best['best']} (deflated Sharpe {best['dsr']:.3f}, ranked on the first 75 %), backtesting.py "
          f"{theirs['best']} (Sharpe {theirs['best_sharpe']:.3f}, whole range, no deflation)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
