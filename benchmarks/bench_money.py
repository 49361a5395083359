"""What placing paper orders adds to a cycle: a cycle placing 10 paper orders beside one placing none.

    python benchmarks/bench_money.py [--cycles 30]

Both are whole cycles through `execution_run` (sandboxed script, persisted execution) against the
venue simulator over HTTP, on a throwaway test database (tests.settings: the embedded PostgreSQL unless
DATABASE_URL is set). Each of the 10 orders fetches the book, sizes, runs the risk checks against
the ledger, fills on the paper broker and writes the order, its fills and the position.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

TICKER = "KXSIMFED-26DEC31-T4.00"
TEN_ORDERS = f"""
from strategies.sdk import EntrySignal


def should_enter(ctx):
    return [EntrySignal(market_id="{TICKER}", side="yes", reason="bench", limit_price=0.55) for _ in range(10)]
"""
NO_ORDERS = "def should_enter(ctx):\n    return []\n"
NO_EXIT = "def should_exit(ctx, position):\n    return None\n"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from strategyhub.lib import embedded_postgres, embedded_redis

    embedded_postgres.run_until_exit()
    # Each cycle broadcasts its rows after commit, as in production; stop a Redis started here.
    if settings.EMBEDDED_REDIS and embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET):
        atexit.register(embedded_redis.shutdown, settings.EMBEDDED_REDIS_SOCKET)
    from django.contrib.auth import get_user_model
    from django.db import connection

    from strategies.cycle.run import execution_run
    from strategies.models import Execution, Strategy
    from strategies.services import strategy_deploy
    from trading.models import Fill, Order
    from trading.simulator import SimulatorConfig, VenueSimulator
    from trading.simulator.books import Book, Level
    from trading.venues import simulator_key_dir

    test_db = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=simulator_key_dir())).start()
    deep = Book(bids=tuple(Level(Decimal("0.52") - Decimal(i) / 100, Decimal(100000)) for i in range(5)),
                asks=tuple(Level(Decimal("0.54") + Decimal(i) / 100, Decimal(100000)) for i in range(5)))
    sim.kalshi.book = lambda market: deep  # type: ignore[method-assign]
    settings.VENUE_SIMULATOR_URL = sim.url
    settings.VENUES = {venue: {**settings.VENUES[venue], **urls} for venue, urls in sim.venue_urls().items()}
    try:
        staff = get_user_model().objects.create_superuser("bench-staff")  # a reviewer: may approve
        owner = get_user_model().objects.create_user("bench-owner")
        base = json.loads((Path(settings.BASE_DIR) / "strategies/examples/kalshi_favourite_longshot/config.json")
                          .read_text())
        base["capital"].update(total_capital=10_000_000, capital_per_trade=10, max_positions=100,
                               max_position_size=10_000_000, max_daily_loss=1_000_000)
        base["risk_limits"].update(max_order_usd=10, max_daily_usd=10_000_000)

        def deploy(name: str, entry: str) -> Strategy:
            config = {**base, "name": name}
            files = {"entry.py": entry, "exit.py": NO_EXIT, "config.json": json.dumps(config)}
            return strategy_deploy(owner=owner, files=files, approve_by=staff).strategy

        placing, idle = deploy("Bench ten orders", TEN_ORDERS), deploy("Bench no orders", NO_ORDERS)
        timings: dict[str, list[float]] = {"none": [], "10 paper orders": []}
        for _ in range(3):  # warm-up: sandbox zygote, adapters, page cache
            execution_run(strategy_id=idle.pk, trigger="manual")
            execution_run(strategy_id=placing.pk, trigger="manual")
        for _ in range(args.cycles):
            for label, strategy in (("none", idle), ("10 paper orders", placing)):
                started = time.perf_counter()
                execution = execution_run(strategy_id=strategy.pk, trigger="manual")
                timings[label].append((time.perf_counter() - started) * 1000)
                assert execution.status == Execution.Status.SUCCEEDED, execution.error
        placed = Order.objects.filter(strategy=placing, status="filled").count()
        assert placed == 10 * (args.cycles + 3), f"expected every order filled, got {placed}"
        fills = Fill.objects.filter(order__strategy=placing).count()
        none, ten = statistics.median(timings["none"]), statistics.median(timings["10 paper orders"])
        print(f"{args.cycles} cycles each, {connection.vendor}, venue simulator over HTTP; "
              f"{placed} orders, {fills} fills")
        print(f"{'cycle':<18}{'median ms':>11}{'p90 ms':>10}{'per order ms':>15}")
        print(f"{'no orders':<18}{none:>11.1f}{percentile(timings['none'], 0.9):>10.1f}{'':>15}")
        print(f"{'10 paper orders':<18}{ten:>11.1f}{percentile(timings['10 paper orders'], 0.9):>10.1f}"
              f"{(ten - none) / 10:>15.1f}")
    finally:
        sim.stop()
        connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
