"""What the one mark-to-market record and the graduation statistics cost a page: `strategy_graduation` (the record
of one version, Wilson interval, Student's t bound, calibration) and `strategy_performance` (every book's record
and capital), beside `capital_state` alone (the ledger read every Overview made per book before), measured in
the same run.

    python benchmarks/bench_money_views.py [--trades 500] [--repeat 30]

On a throwaway test database (tests.settings: the embedded PostgreSQL unless DATABASE_URL is set); the paper
record is written through the ledger (orders and fills), `--trades` closed trades and five open positions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def timed(what: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median and p90 of `repeat` calls, in ms, after two warm-up calls."""
    for _ in range(2):
        what()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        what()
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return statistics.median(samples), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from strategyhub.lib import embedded_postgres

    embedded_postgres.run_until_exit()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from strategies.selectors import strategy_graduation, strategy_performance
    from strategies.services import strategy_deploy
    from tests.strategies.paper_record import paper_trades
    from trading.selectors import capital_state

    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        staff = get_user_model().objects.create_superuser("bench-staff")
        owner = get_user_model().objects.create_user("bench-owner")
        folder = Path(settings.BASE_DIR) / "strategies/examples/kalshi_favourite_longshot"
        files = {name: (folder / name).read_text() for name in ("entry.py", "exit.py", "config.json")}
        version = strategy_deploy(owner=owner, files=files, approve_by=staff)
        pnls = [("12" if index % 3 else "-9") for index in range(args.trades)]
        paper_trades(version, pnls, open_marks=("0.45", "0.48", "0.52", "0.55", "0.60"))
        strategy = version.strategy
        total = json.loads(files["config.json"])["capital"]["total_capital"]
        rows = [
            ("capital_state (paper book)", timed(lambda: capital_state(
                strategy_id=strategy.pk, book="paper", total_capital=total, now=timezone.now()), args.repeat)),
            ("strategy_performance", timed(lambda: strategy_performance(strategy, now=timezone.now()), args.repeat)),
            ("strategy_graduation", timed(lambda: strategy_graduation(strategy), args.repeat)),
        ]
        print(f"{args.trades} closed paper trades + 5 open, {args.repeat} calls each, {connection.vendor}")
        print(f"{'read':<30}{'median ms':>11}{'p90 ms':>10}")
        for label, (median, p90) in rows:
            print(f"{label:<30}{median:>11.1f}{p90:>10.1f}")
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
